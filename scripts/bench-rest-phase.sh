#!/usr/bin/env bash
# The REST phase of a real apply (issue 21): the password changes and the verification after
# the restart, as the apply itself times them ("… s in password changes and checks over REST"
# in its summary), for one or more binaries, interleaved run by run (a busy machine then slows
# each binary alike), on real Elasticsearch 8 nodes started by the test harness. Two kinds:
#   fresh   a new unsecured node per apply, tier none -> minimal, temporary superuser: the
#           first password change creates the .security index (a first apply);
#   rotate  one node secured once, then `passwords.rotate: true` applies: six changes and the
#           verification on an existing security index, no restart.
# Prints per apply a BENCH line and the binary's trace (ES_SECURE_TRACE=1: every REST call
# with its status and milliseconds, every HTTP client built, the state-file hashing), then
# the medians per binary and kind. Target (issue 21): REST phase <= 1 s on a quiet machine.
#
# Usage: [FRESH=N] [ROTATE=N] [TRACE=0] scripts/bench-rest-phase.sh [LABEL=BINARY ...]
#   default: this checkout's release build (built), FRESH=3, ROTATE=5; e.g.
#   FRESH=5 ROTATE=10 scripts/bench-rest-phase.sh before=/tmp/es-secure-main after=target/release/es-secure
# The test environment comes from ENV_FILE, else /tmp/es-test.env, else scripts/test-env.sh
# (needs root). A binary without the trace (before ES_SECURE_TRACE existed) still gets its
# BENCH lines.
set -euo pipefail
cd "$(dirname "$0")/.."
env_file=${ENV_FILE:-}
if [ -z "$env_file" ] && [ -f /tmp/es-test.env ]; then
    env_file=/tmp/es-test.env
fi
if [ -z "$env_file" ]; then
    env_file=$(mktemp)
    trap 'rm -f "$env_file"' EXIT
    scripts/test-env.sh "$env_file" >/dev/null
fi
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
bins=()
for arg in "$@"; do
    label=${arg%%=*}
    path=${arg#*=}
    [ "$label" != "$arg" ] || { echo "argument $arg is not LABEL=BINARY" >&2; exit 2; }
    [ -x "$path" ] || { echo "$path is not an executable" >&2; exit 2; }
    bins+=("$label=$(realpath "$path")")
done
if [ "${#bins[@]}" -eq 0 ]; then
    cargo build --release -q
    bins=("this=$PWD/target/release/es-secure")
fi
cargo test -q --no-run --test bench_rest_phase 2>/dev/null
log=$(mktemp)
echo "machine: $(nproc) cores; $(uptime | sed 's/.*load/load/') at start; ES $ES_SECURE_TEST_VERSION_8"
echo "binaries: ${bins[*]}; fresh ${FRESH:-3}, rotate ${ROTATE:-5} applies each"
ES_SECURE_BENCH_BINS="${bins[*]}" ES_SECURE_BENCH_FRESH=${FRESH:-3} \
    ES_SECURE_BENCH_ROTATE=${ROTATE:-5} ES_SECURE_TRACE=${TRACE:-1} ES_SECURE_TEST_REQUIRE=1 \
    timeout 7200 cargo test -q --test bench_rest_phase -- --ignored --exact rest_phase --nocapture \
    2>&1 | tee "$log" | grep --line-buffered -E 'BENCH|TRACE|panicked|test result'
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$log" <<'EOF'
import re, statistics, sys
from collections import defaultdict
rest = defaultdict(list)
calls = defaultdict(list)
built = defaultdict(int)
applies = []
for line in open(sys.argv[1]):
    m = re.search(r'BENCH bin=(\S+) kind=(\S+) run=(\d+) rest_s=([0-9.]+)', line)
    if m and m.group(2) != 'setup':
        rest[(m.group(2), m.group(1))].append(float(m.group(4)))
        applies.append((m.group(1), m.group(2), m.group(3)))
        continue
    m = re.search(r'TRACE bin=(\S+) kind=(\S+) run=(\d+) trace \S+ (.*)', line)
    if not m:
        continue
    key, text = (m.group(1), m.group(2), m.group(3)), m.group(4)
    if re.search(r'http client #\d+ for .* built', text):
        built[key] += 1
    c = re.search(r'(POST|GET) (/_security/user/[^/]+/_password|/_security/_authenticate)\S* .*-> 200 in ([0-9.]+) ms', text)
    if c:
        what = 'change password' if c.group(1) == 'POST' else 'authenticate'
        calls[(m.group(2), m.group(1), what)].append(float(c.group(3)))
clients = defaultdict(list)
for b, kind, run in applies:
    clients[(kind, b)].append(built[(b, kind, run)])
print("\nREST phase per apply (s): median [min-max] over n")
for (kind, b), v in sorted(rest.items()):
    n = clients[(kind, b)]
    print(f"  {kind:7} {b:10} median {statistics.median(v):.2f}  [{min(v):.2f}-{max(v):.2f}]  n={len(v)}"
          + (f"  http clients built per apply: {statistics.median(n):g}" if any(n) else ""))
if calls:
    print("REST calls (ms, from the trace, all applies of a kind): median [min-max] over n")
    for (kind, b, what), v in sorted(calls.items()):
        print(f"  {kind:7} {b:10} {what:16} median {statistics.median(v):.0f}  [{min(v):.0f}-{max(v):.0f}]  n={len(v)}")
EOF
rm -f "$log"
