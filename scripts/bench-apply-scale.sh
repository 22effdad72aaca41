#!/usr/bin/env bash
# How `apply` and `plan` scale with the number of nodes (issue 21): an https answers file for
# 1, 10, 100 and 1000 nodes (restart: manual, so no node is needed; the other nodes' bundles
# are written to the state directory), on a scratch copy of the deb fixture install, on the
# file system of the checkout (`ext4` here; the line before the table says whether it has a
# journal: this VM's root has none, and ext4 without a journal spends most of a 1000-file
# apply in its inode allocator's `recently_deleted` scan), on a fresh journaled ext4 (`ext4j`:
# a 1 GiB image made with mkfs.ext4's defaults, as a distribution installs, loop-mounted;
# needs root) and on tmpfs (/dev/shm). Every apply runs
# on a fresh copy (hyperfine --prepare), with RELEASE binaries. Several binaries (e.g. main
# and a branch) are measured in the same run, alternating per row, so load hits them alike.
#
# Prints one markdown table: wall (hyperfine mean ± σ), user+sys CPU and peak RSS (from
# /usr/bin/time -v of one extra run); then the certificate cost for the same node counts
# (the gen_certs example: CA + transport and HTTP certificate per node, in memory, on every
# core), and per binary the per-node slope between 100 and 1000 nodes with the CPU per node
# beyond issuing its two certificates. Targets (issue 21): 1000-node apply < 0.5 s wall on a
# quiet machine (ext4), per-node CPU ≤ 0.3 ms beyond issuing its certificates, peak RSS
# < 50 MB, cost linear in the node count.
#
# Usage: scripts/bench-apply-scale.sh [BIN ...]
#   BIN defaults to target/release/es-secure (built); e.g. compare two builds:
#   scripts/bench-apply-scale.sh /tmp/es-secure-base target/release/es-secure
# Environment: RUNS (hyperfine runs per row, default 10), NODES (default "1 10 100 1000";
# the slope uses the last two), FS (default "ext4 ext4j tmpfs").
# Needs mkfs.ext4, losetup and root for ext4j.
# Needs hyperfine (installed from Debian's packages when missing) and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -q hyperfine >/dev/null 2>&1 || { echo "needs hyperfine" >&2; exit 1; }; }
[ -x /usr/bin/time ] || { apt-get install -y -q time >/dev/null 2>&1 || { echo "needs /usr/bin/time" >&2; exit 1; }; }
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
    cargo build --release -q
    bins=("$PWD/target/release/es-secure")
fi
for i in "${!bins[@]}"; do
    bins[i]=$(realpath "${bins[i]}")
    [ -x "${bins[i]}" ] || { echo "not an executable: ${bins[i]}" >&2; exit 1; }
done
# The certificate cost, measured the same way for every binary: es-secure's own issuing path.
cargo build --release -q --example gen_certs
gen_certs=$PWD/target/release/examples/gen_certs
runs=${RUNS:-10}
read -r -a counts <<<"${NODES:-1 10 100 1000}"
read -r -a filesystems <<<"${FS:-ext4 ext4j tmpfs}"
fixture=$PWD/tests/fixtures/installs/deb
ext4_work=$(mktemp -d "$PWD/target/bench-scale.XXXXXX")
shm_work=$(mktemp -d /dev/shm/es-secure-bench-scale.XXXXXX)
ext4j_mnt=
cleanup() {
    rm -rf "$ext4_work" "$shm_work"
    if [ -n "$ext4j_mnt" ]; then
        umount "$ext4j_mnt" 2>/dev/null || true
        rm -rf "$ext4j_mnt" "$ext4j_mnt.img"
    fi
}
trap cleanup EXIT
if [[ " ${filesystems[*]} " == *" ext4j "* ]]; then
    ext4j_mnt=$(mktemp -d "$PWD/target/bench-ext4j.XXXXXX")
    truncate -s 1G "$ext4j_mnt.img"
    mkfs.ext4 -q -F "$ext4j_mnt.img"
    mount -o loop "$ext4j_mnt.img" "$ext4j_mnt" || { echo "ext4j needs root and a loop device (or FS=\"ext4 tmpfs\")" >&2; exit 1; }
    ext4j_work=$ext4j_mnt/work
    mkdir "$ext4j_work"
fi

# A pristine install in $1/template, answers for each node count in $1/answers-N.yml.
make_template() {
    local w=$1
    mkdir -p "$w/template/elasticsearch" "$w/template/kibana" "$w/template/home/lib" "$w/template/state"
    chmod 755 "$w" "$w/template"
    chmod 700 "$w/template/state"
    cp "$fixture/elasticsearch/elasticsearch.yml" "$w/template/elasticsearch/"
    cp "$fixture/kibana/kibana.yml" "$w/template/kibana/"
    : >"$w/template/home/lib/elasticsearch-8.19.21.jar"
    for n in "${counts[@]}"; do
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

# The command line for one run of $1 on the install in $2.
es() { echo "$1 --es-home $2/home --es-config $2/elasticsearch --state-dir $2/state --es-user nobody"; }

# user+sys seconds and peak RSS (KB) of one run of the command in $2, from /usr/bin/time -v
# written to $1.
cpu_rss() {
    local out=$1
    shift
    /usr/bin/time -v -o "$out" "$@" >/dev/null 2>&1 || true
    local user sys rss
    user=$(awk -F': ' '/User time/ {print $2}' "$out")
    sys=$(awk -F': ' '/System time/ {print $2}' "$out")
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$out")
    echo "$(python3 -c "print(f'{$user + $sys:.3f}')") $rss"
}

# Whether the checkout's ext4 has a journal: jbd2's task is named in sysfs when it does.
src=$(findmnt -no SOURCE -T "$PWD" || true)
journal=$(cat "/sys/fs/ext4/$(basename "$src")/journal_task" 2>/dev/null || echo "?")
echo "checkout's file system: $(findmnt -no FSTYPE -T "$PWD" || true) on $src, journal task: $journal ('<none>': no journal)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in "${!bins[@]}"; do echo "binary $((i + 1)): ${bins[i]}"; done
echo
echo "| fs | command | nodes | binary | wall (mean ± σ) | CPU user+sys | peak RSS |"
echo "|---|---|---:|---:|---:|---:|---:|"
declare -A wall cpu
for fs in "${filesystems[@]}"; do
    case $fs in
    ext4) w=$ext4_work ;;
    ext4j) w=$ext4j_work ;;
    *) w=$shm_work ;;
    esac
    make_template "$w"
    for cmd in plan apply; do
        for n in "${counts[@]}"; do
            for b in "${!bins[@]}"; do
                run="$w/run"
                # hyperfine -N runs the preparation without a shell too: a script file. The
                # `sync` starts every run with no dirty data of the previous run or the copy
                # (on ext4 that writeback otherwise lands on whichever binary runs next, and
                # the binary measured first in a row looked fastest).
                printf 'rm -rf %s && cp -a %s %s && sync\n' "$run" "$w/template" "$run" >"$w/prep.sh"
                prep="bash $w/prep.sh"
                if [ "$cmd" = apply ]; then
                    line="$(es "${bins[b]}" "$run") apply --yes --answers $w/answers-$n.yml"
                else
                    line="$(es "${bins[b]}" "$run") plan --answers $w/answers-$n.yml"
                fi
                # apply exits 7 (restart pending) by design with restart: manual.
                hyperfine -N -i --style none --runs "$runs" --prepare "$prep" \
                    --export-json "$w/h.json" "$line" >/dev/null 2>&1
                read -r mean sd < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["mean"], r["stddev"] or 0)' "$w/h.json")
                eval "$prep"
                # shellcheck disable=SC2086 # the command line is words on purpose
                read -r c rss < <(cpu_rss "$w/time.txt" $line)
                wall[$fs,$cmd,$n,$b]=$mean
                cpu[$fs,$cmd,$n,$b]=$c
                printf '| %s | %s | %d | %d | %.3f ± %.3f s | %s s | %.1f MB |\n' "$fs" "$cmd" "$n" $((b + 1)) "$mean" "$sd" "$c" "$(python3 -c "print($rss/1024)")"
            done
        done
    done
    rm -rf "$w/run"
done

echo
echo "Certificate cost (gen_certs: CA + 2 certificates per node, ECDSA P-256, in memory, $(nproc) threads):"
echo
echo "| nodes | issuing wall | CPU user+sys |"
echo "|---:|---:|---:|"
declare -A cert_cpu
for n in "${counts[@]}"; do
    read -r c _ < <(cpu_rss "$ext4_work/time.txt" "$gen_certs" "$n" ecdsa-p256 -)
    gen=$("$gen_certs" "$n" ecdsa-p256 - 2>&1 | sed -n 's/.*generated in \([0-9.]*\) s.*/\1/p')
    cert_cpu[$n]=$c
    printf '| %d | %s s | %s s |\n' "$n" "$gen" "$c"
done

lo=${counts[${#counts[@]} - 2]}
hi=${counts[${#counts[@]} - 1]}
echo
echo "Per-node slope between $lo and $hi nodes (one run each for CPU; certificate CPU per node from gen_certs over the same range):"
cert_slope=$(python3 -c "print((${cert_cpu[$hi]}-${cert_cpu[$lo]})/($hi-$lo)*1000)")
printf '  certificates: %.3f ms CPU per node\n' "$cert_slope"
for b in "${!bins[@]}"; do
    for fs in "${filesystems[@]}"; do
        for cmd in plan apply; do
            python3 -c "
w=(${wall[$fs,$cmd,$hi,$b]}-${wall[$fs,$cmd,$lo,$b]})/($hi-$lo)*1000
c=(${cpu[$fs,$cmd,$hi,$b]}-${cpu[$fs,$cmd,$lo,$b]})/($hi-$lo)*1000
beyond = f', {c-$cert_slope:.3f} ms CPU per node beyond its certificates' if '$cmd' == 'apply' else ''
print(f'  binary $((b + 1)) $fs $cmd: {w:.3f} ms wall, {c:.3f} ms CPU per node{beyond}')"
        done
    done
done
