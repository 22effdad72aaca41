#!/usr/bin/env bash
# Process-level speed of es-secure (issue: performance): `--version`, `status` on a
# 10,000-line elasticsearch.yml, and `plan` for a 3-node https answers file, with hyperfine
# (installed from Debian's packages when missing). Prints a markdown table.
# Targets: --version < 10 ms, status (10k lines) < 50 ms, first frame < 100 ms. The first
# frame is measured end to end: es-secure started on a pseudo-terminal (Python's pty) with
# the sandbox install, timed until the Welcome screen's "Detected installation" box arrives.
# The in-process costs (render alone, parse alone) are in `cargo bench --bench cli`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -q hyperfine >/dev/null 2>&1 || { echo "needs hyperfine" >&2; exit 1; }; }
cargo build --release -q
bin=$PWD/target/release/es-secure
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/es/config" "$work/es/lib" "$work/state"
chmod 700 "$work/state"
: >"$work/es/lib/elasticsearch-8.19.21.jar"
{
    for i in $(seq 0 1999); do
        echo "# ---------------------------------- Section ----------------------------------"
        echo "#"
        echo "# Explanation of setting number $i, kept by es-secure byte for byte."
        echo "#"
        echo "custom.group$((i % 50)).setting$i: \"value $i\""
    done
    echo "node.name: node-1"
    echo "network.host: 127.0.0.1"
} >"$work/es/config/elasticsearch.yml"
cat >"$work/answers.yml" <<YML
version: 1
tier: https
nodes:
  - {name: node-1, dns: [node-1.example.internal, localhost], ip: [127.0.0.1]}
  - {name: node-2, dns: [node-2.example.internal], ip: [10.0.0.12]}
  - {name: node-3, dns: [node-3.example.internal], ip: [10.0.0.13]}
this_node: node-1
YML
flags=(--es-home "$work/es" --es-config "$work/es/config" --state-dir "$work/state" --es-user nobody)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo "elasticsearch.yml: $(wc -l <"$work/es/config/elasticsearch.yml") lines"
hyperfine -N --warmup 3 --runs 30 --export-markdown "$work/table.md" \
    -n "es-secure --version" "$bin --version" \
    -n "es-secure status (10k-line yml)" "$bin ${flags[*]} status" \
    -n "es-secure plan (3-node https)" "$bin ${flags[*]} plan --answers $work/answers.yml" >&2
cat "$work/table.md"

# First frame through a real PTY: spawn → Welcome screen bytes on the terminal.
python3 - "$bin" "$work" <<'PY'
import fcntl, os, pty, select, signal, statistics, struct, sys, termios, time
binary, work = sys.argv[1], sys.argv[2]
env = dict(os.environ, TERM="xterm-256color", NO_COLOR="1", HOME=work,
           XDG_DATA_HOME=work + "/xdg", ES_SECURE_STATE_DIR=work + "/fs-state")
times = []
for run in range(23):
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        # An 80x24 terminal, as the screen snapshots use.
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        os.execve(binary, [binary, "--sandbox"], env)
    buf, seen = b"", None
    while time.perf_counter() - t0 < 10:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            buf += chunk
            if b"Detected installation" in buf:
                seen = time.perf_counter() - t0
                break
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(fd)
    if seen is None:
        sys.exit("first frame not seen within 10 s; output: %r" % buf[-400:])
    if run >= 3:  # warm-up runs (page cache, sandbox copy) are not counted
        times.append(seen * 1000)
print("| `es-secure --sandbox` first frame (PTY, 20 runs) | %.1f (median %.1f) | %.1f | %.1f | |"
      % (statistics.mean(times), statistics.median(times), min(times), max(times)))
PY
