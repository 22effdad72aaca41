#!/usr/bin/env bash
# How `apply` and `plan` scale with the number of nodes (issue 21): an https answers file for
# 1, 10, 100 and 1000 nodes (restart: manual, so no node is needed; the other nodes' bundles
# are written to the state directory), on a scratch copy of the deb fixture install, once on
# the file system of the checkout (ext4 here) and once on tmpfs (/dev/shm). Every apply runs
# on a fresh copy (hyperfine --prepare), with the RELEASE binary.
#
# Prints one markdown table: wall (hyperfine mean ± σ), user+sys CPU and peak RSS (from
# /usr/bin/time -v of one extra run), and the per-node slope between 100 and 1000 nodes.
# Targets (issue 21): 1000-node apply < 0.5 s wall on a quiet machine (ext4), per-node CPU
# ≤ 0.3 ms beyond issuing its certificates, peak RSS < 50 MB.
#
# Usage: scripts/bench-apply-scale.sh [BIN] [RUNS]   (default target/release/es-secure, 10)
# Needs hyperfine (installed from Debian's packages when missing) and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -q hyperfine >/dev/null 2>&1 || { echo "needs hyperfine" >&2; exit 1; }; }
[ -x /usr/bin/time ] || { apt-get install -y -q time >/dev/null 2>&1 || { echo "needs /usr/bin/time" >&2; exit 1; }; }
bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --release -q
    bin=$PWD/target/release/es-secure
fi
runs=${2:-10}
fixture=$PWD/tests/fixtures/installs/deb
ext4_work=$(mktemp -d "$PWD/target/bench-scale.XXXXXX")
shm_work=$(mktemp -d /dev/shm/es-secure-bench-scale.XXXXXX)
trap 'rm -rf "$ext4_work" "$shm_work"' EXIT

# A pristine install in $1/template, answers for each node count in $1/answers-N.yml.
make_template() {
    local w=$1
    mkdir -p "$w/template/elasticsearch" "$w/template/kibana" "$w/template/home/lib" "$w/template/state"
    chmod 755 "$w" "$w/template"
    chmod 700 "$w/template/state"
    cp "$fixture/elasticsearch/elasticsearch.yml" "$w/template/elasticsearch/"
    cp "$fixture/kibana/kibana.yml" "$w/template/kibana/"
    : >"$w/template/home/lib/elasticsearch-8.19.21.jar"
    for n in 1 10 100 1000; do
        {
            printf 'version: 1\ntier: https\nelasticsearch:\n  restart: manual\n  allow_partial_cluster: true\nnodes:\n'
            for i in $(seq 1 "$n"); do
                printf '  - {name: node-%d, dns: [node-%d.example.internal], ip: [10.%d.%d.%d]}\n' \
                    "$i" "$i" $((i / 65536 % 256)) $((i / 256 % 256)) $((i % 256))
            done
            printf 'this_node: node-1\n'
        } >"$w/answers-$n.yml"
    done
}

# The command line for one run on the install in $1.
es() { echo "$bin --es-home $1/home --es-config $1/elasticsearch --state-dir $1/state --es-user nobody"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg); binary $bin"
echo
echo "| fs | command | nodes | wall (mean ± σ) | CPU user+sys | peak RSS |"
echo "|---|---|---:|---:|---:|---:|"
declare -A wall cpu
for fs in ext4 tmpfs; do
    if [ "$fs" = ext4 ]; then w=$ext4_work; else w=$shm_work; fi
    make_template "$w"
    for cmd in plan apply; do
        for n in 1 10 100 1000; do
            run="$w/run"
            # hyperfine -N runs the preparation without a shell too: a script file.
            printf 'rm -rf %s && cp -a %s %s\n' "$run" "$w/template" "$run" >"$w/prep.sh"
            prep="bash $w/prep.sh"
            if [ "$cmd" = apply ]; then
                line="$(es "$run") apply --yes --answers $w/answers-$n.yml"
            else
                line="$(es "$run") plan --answers $w/answers-$n.yml"
            fi
            # apply exits 7 (restart pending) by design with restart: manual.
            hyperfine -N -i --style none --runs "$runs" --prepare "$prep" \
                --export-json "$w/h.json" "$line" >/dev/null 2>&1
            read -r mean sd < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["mean"], r["stddev"] or 0)' "$w/h.json")
            eval "$prep"
            /usr/bin/time -v -o "$w/time.txt" $line >/dev/null 2>&1 || true
            user=$(awk -F': ' '/User time/ {print $2}' "$w/time.txt")
            sys=$(awk -F': ' '/System time/ {print $2}' "$w/time.txt")
            rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$w/time.txt")
            c=$(python3 -c "print(f'{$user + $sys:.3f}')")
            wall[$fs,$cmd,$n]=$mean
            cpu[$fs,$cmd,$n]=$c
            printf '| %s | %s | %d | %.3f ± %.3f s | %s s | %.1f MB |\n' "$fs" "$cmd" "$n" "$mean" "$sd" "$c" "$(python3 -c "print($rss/1024)")"
        done
    done
    rm -rf "$w/run"
done
echo
echo "Per-node slope between 100 and 1000 nodes (wall / CPU of one run):"
for fs in ext4 tmpfs; do
    for cmd in plan apply; do
        python3 -c "
w=(${wall[$fs,$cmd,1000]}-${wall[$fs,$cmd,100]})/900*1000; c=(${cpu[$fs,$cmd,1000]}-${cpu[$fs,$cmd,100]})/900*1000
print(f'  $fs $cmd: {w:.3f} ms wall, {c:.3f} ms CPU per node')"
    done
done
