#!/usr/bin/env bash
# The tool's own time inside an end-to-end apply on a real Elasticsearch node (issue:
# performance), reported separately from the restart and health wait. Runs the e2e scenario
# "minimal tier on one node, then the same answers again" from tests/e2e_real_es.rs with the
# RELEASE binary (the debug build spends seconds in PBKDF2/bcrypt that an operator never
# sees) and prints the "Took … s of es-secure's own work and … s restarting" lines the apply
# itself reports. Needs the real-ES test environment (scripts/test-env.sh, run as root).
# Target: own work < 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
scripts/test-env.sh "$env_file" >/dev/null
# shellcheck disable=SC1090
. "$env_file"
cargo build --release -q
export ES_SECURE_E2E_BIN=$PWD/target/release/es-secure ES_SECURE_TEST_REQUIRE=1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg), ES $ES_SECURE_TEST_VERSION_8"
for scenario in minimal_single_node_then_idempotent_rerun bootstrap_password_goes_to_the_keystore_and_secures_the_node https_single_node_curl_with_and_without_ca; do
    cargo test -q --test e2e_real_es -- --exact "$scenario" --nocapture 2>&1 |
        grep -E "TIMING|exit [0-9]+ in|test result" | sed "s/^/[$scenario] /"
done
