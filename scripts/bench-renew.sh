#!/usr/bin/env bash
# renew's own time (issue 19), for a 1-node and a 100-node cluster: on a scratch copy of the
# deb fixture install secured by one apply (https tier, restart: manual), `renew --yes`
# (this node's transport, HTTP and Kibana certificates) and `renew --yes --all --answers`
# (the same plus a new signed bundle for each of the other 99 nodes). No Elasticsearch runs:
# the template's elasticsearch.yml is pointed at 127.0.0.1:9 (nothing listens, the connection
# is refused at once), so renew takes its "not running" path — plan, issue, journal, write,
# commit — and skips the wait for the node to serve the new certificates (the live wait, ≤ 5 s
# by Elasticsearch's reload interval, is measured by tests/e2e_real_es.rs instead). The same
# for rotate-ca phase (a) (new CA, trust lists, one rotation bundle per other node).
# Every run starts from a fresh copy (hyperfine --prepare), with the RELEASE binary.
#
# Usage: scripts/bench-renew.sh [BIN] [RUNS]   (default target/release/es-secure, 10)
# Needs hyperfine (installed from Debian's packages when missing), as bench-apply-scale.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get install -y -q hyperfine >/dev/null 2>&1 || { echo "needs hyperfine" >&2; exit 1; }; }
bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --release -q
    bin=$PWD/target/release/es-secure
fi
runs=${2:-10}
fixture=$PWD/tests/fixtures/installs/deb
w=$(mktemp -d "$PWD/target/bench-renew.XXXXXX")
trap 'rm -rf "$w"' EXIT

es() { echo "$bin --es-home $1/home --es-config $1/elasticsearch --kibana-config $1/kibana --state-dir $1/state --es-user nobody"; }

# A secured install for N nodes in $w/template-N and its answers in $w/answers-N.yml.
for n in 1 100; do
    t=$w/template-$n
    mkdir -p "$t/elasticsearch" "$t/kibana" "$t/home/lib" "$t/state"
    chmod 755 "$w" "$t"
    chmod 700 "$t/state"
    cp "$fixture/elasticsearch/elasticsearch.yml" "$t/elasticsearch/"
    cp "$fixture/kibana/kibana.yml" "$t/kibana/"
    : >"$t/home/lib/elasticsearch-8.19.21.jar"
    {
        printf 'version: 1\ntier: https\nelasticsearch:\n  restart: manual\n  allow_partial_cluster: true\nnodes:\n'
        printf '  - {name: node-1, dns: [node-1.example.internal, localhost], ip: [10.0.0.11, 127.0.0.1]}\n'
        for i in $(seq 2 "$n"); do
            printf '  - {name: node-%d, dns: [node-%d.example.internal], ip: [10.%d.%d.%d]}\n' \
                "$i" "$i" $((i / 65536 % 256)) $((i / 256 % 256)) $((i % 256))
        done
        printf 'this_node: node-1\nkibana:\n  config_dir: %s\n  public_url: https://kibana.example.internal:5601\n' "$t/kibana"
    } >"$w/answers-$n.yml"
    # exit 7: restart pending (manual), by design.
    $(es "$t") apply --yes --answers "$w/answers-$n.yml" >/dev/null 2>&1 || [ $? -eq 7 ]
    rm -rf "$t/state/bundles"
    sed -i -e 's/^network.host:.*/network.host: 127.0.0.1/' -e 's/^http.port:.*/http.port: 9/' "$t/elasticsearch/elasticsearch.yml"
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg); binary $bin"
echo
echo "| command | cluster nodes | writes | wall (mean ± σ) |"
echo "|---|---:|---|---:|"
bench() { # label nodes what cmdline
    local n=$2 run="$w/run"
    printf 'rm -rf %s && cp -a %s %s\n' "$run" "$w/template-$n" "$run" >"$w/prep.sh"
    local line=${4//@RUN@/$run}
    hyperfine -N --style none --runs "$runs" --prepare "bash $w/prep.sh" \
        --export-json "$w/h.json" "$line" >/dev/null 2>&1 || { echo "failed: $line" >&2; bash "$w/prep.sh"; $line >&2 || true; exit 1; }
    read -r mean sd < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["mean"], r["stddev"] or 0)' "$w/h.json")
    printf '| %s | %d | %s | %.3f ± %.3f s |\n' "$1" "$n" "$3" "$mean" "$sd"
}
bench "renew --yes" 1 "3 certificates + keys" "$(es @RUN@) renew --yes"
bench "renew --yes" 100 "3 certificates + keys" "$(es @RUN@) renew --yes"
bench "renew --yes --all" 100 "3 certificates + 99 signed bundles" "$(es @RUN@) renew --yes --all --answers $w/answers-100.yml"
bench "rotate-ca --yes (phase a)" 1 "new CA + 2 trust lists" "$(es @RUN@) rotate-ca --yes"
bench "rotate-ca --yes --all (phase a)" 100 "new CA + 2 trust lists + 99 signed bundles" "$(es @RUN@) rotate-ca --yes --all --answers $w/answers-100.yml"
