#!/usr/bin/env bash
# Issue 17's measure: the wall time of the 3-node Ansible rollout (none -> https, contrib/ansible)
# against a bare full-cluster restart of the same three nodes in the same run (goal: rollout
# <= 1.2x the bare restart). It runs scripts/test-ansible.sh (three systemd-nspawn containers,
# ES in the deb layout) with the RELEASE binary, then prints the ratio and where the rollout's
# time went, task by task (from Ansible's own timestamped log).
#
#   scripts/bench-ansible-rollout.sh [BIN]    (default: target/release/es-secure, built first)
# Needs root and the environment of scripts/test-env.sh (source its env file first). ~10 min.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --release -q
    bin=$PWD/target/release/es-secure
fi
work=$(mktemp -d /tmp/es-secure-bench-ansible.XXXXXX)
trap 'rm -rf "$work"' EXIT
ES_SECURE_BIN=$bin ES_SECURE_ANSIBLE_TASK_LOG=$work/tasks.log ES_SECURE_ANSIBLE_NODE_LOGS=$work/nodes \
    scripts/test-ansible.sh >"$work/out.log" 2>&1 || { tail -40 "$work/out.log" >&2; exit 1; }
line=$(grep -o 'BENCH rollout [0-9]*s vs bare full-cluster restart [0-9]*s' "$work/out.log")
rollout=$(echo "$line" | sed -E 's/BENCH rollout ([0-9]+)s.*/\1/')
bare=$(echo "$line" | sed -E 's/.*restart ([0-9]+)s/\1/')
echo "load before/after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rollout ${rollout}s, bare full-cluster restart ${bare}s, ratio $(awk -v r="$rollout" -v b="$bare" 'BEGIN { printf "%.2f", r / b }') (goal <= 1.2)"
# Task durations: each "TASK [...]" line's timestamp to the next one's.
echo "slowest tasks of the rollout (s):"
grep -E ' \| (TASK|PLAY RECAP)' "$work/tasks.log" | python3 -c '
import sys, datetime
rows = []
for line in sys.stdin:
    stamp, _, rest = line.partition(" p=")
    t = datetime.datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S,%f")
    name = rest.split("| ", 1)[-1].strip()
    rows.append((t, name))
spans = [((b[0] - a[0]).total_seconds(), a[1]) for a, b in zip(rows, rows[1:])]
for secs, name in sorted(spans, reverse=True)[:12]:
    print(f"  {secs:6.1f}  {name[:110]}")
'
# Each node's starts (systemd's view, then Elasticsearch's own milestones): where a
# `systemctl start` waits — the JVM, joining the cluster (HTTP binds only after the node has a
# master, up to discovery.initial_state_timeout), or the readiness probe.
for n in 1 2 3; do
    echo "node-$n:"
    grep -E 'Starting elasticsearch|Started elasticsearch|Stopping elasticsearch|Stopped elasticsearch' "$work/nodes/node-$n.journal" | sed 's/^/  /' || true
    grep -E 'o.e.n.Node.*(starting|started)|publish_address.*9200|master node changed|elected-as-master|cluster UUID' "$work/nodes/node-$n.log" |
        cut -c1-180 | sed 's/^/  /' || true
done
