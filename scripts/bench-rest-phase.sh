#!/usr/bin/env bash
# The REST phase of a real apply (issue 21): the password changes and the verification after
# the restart, as the apply itself times them ("… s in password changes and checks over
# REST" in its summary, and each step's "done (… s)" line). Runs the e2e scenario
# "none → minimal on one node, temporary superuser" (tests/e2e_real_es.rs) RUNS times with the
# RELEASE binary on a real Elasticsearch 8.19 node, and prints per run the REST phase and its
# steps, then the median. Target (issue 21): REST phase ≤ 1 s on a quiet machine.
#
# Usage: [BIN=path/to/es-secure] scripts/bench-rest-phase.sh [RUNS] [ENV_FILE]   (default: the
# release build of this checkout, 5 runs, /tmp/es-test.env when it exists, else a fresh one
# from scripts/test-env.sh, which needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
env_file=${2:-}
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
bin=${BIN:-}
if [ -z "$bin" ]; then
    cargo build --release -q
    bin=$PWD/target/release/es-secure
fi
cargo test --no-run -q --test e2e_real_es 2>/dev/null
export ES_SECURE_E2E_BIN=$bin ES_SECURE_TEST_REQUIRE=1
scenario=minimal_single_node_then_idempotent_rerun
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start; ES $ES_SECURE_TEST_VERSION_8; scenario $scenario; binary $bin"
totals=()
for i in $(seq 1 "$runs"); do
    out=$(cargo test -q --test e2e_real_es -- --exact "$scenario" --nocapture 2>&1)
    # The first apply of the scenario (the second one has nothing to do).
    took=$(grep -m1 -E 'TIMING .*over REST' <<<"$out" || true)
    rest=$(sed -nE 's/.*; ([0-9.]+) s in password changes and checks over REST.*/\1/p' <<<"$took")
    if [ -z "$rest" ]; then
        echo "run $i: no REST timing found (load $(cut -d' ' -f1 /proc/loadavg))"
        grep -E "test result|panicked" <<<"$out" | head -5
        continue
    fi
    totals+=("$rest")
    echo "run $i: REST phase $rest s (load $(cut -d' ' -f1 /proc/loadavg)); ${took#*TIMING }"
    # The REST-phase steps of that apply and their times.
    awk '/TIMING   / {l=$0; sub(/.*TIMING   /, "", l); if (l ~ /_password|verify /) on=1; if (on) print "    " l; if (l ~ /verify /) v=1; else if (v && l ~ /done \(/) exit}' <<<"$out"
done
if [ "${#totals[@]}" -gt 0 ]; then
    python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f"REST phase: median {statistics.median(v):.2f} s, min {min(v):.2f} s, max {max(v):.2f} s over {len(v)} runs")' "${totals[@]}"
fi
