#!/usr/bin/env bash
# The one test command (README, `.ci/run`): installs what the tests need, then runs every
# test, the real-Elasticsearch ones included.
#
# What it installs (idempotent, cached outside the repository):
#   - a JDK 17 (Debian openjdk-17-jdk-headless) for Elasticsearch 8.x and a JDK >= 21 for 9.x,
#   - org.elasticsearch.distribution.integ-test-zip:elasticsearch (8.19.x and 9.x) via Maven,
#   - the unprivileged user `estest` that every test node runs as (ES refuses root),
#   - openssl, curl and node for the cross-checks.
# Needs root (useradd, chown) and the package registries; nothing else from the network.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
step() { printf '\n==> %s (+%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "installing test prerequisites (scripts/test-env.sh)"
env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
scripts/test-env.sh "$env_file"
# shellcheck disable=SC1090
source "$env_file"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "cargo build (tests, benches, examples)"
cargo build --locked --all-targets

# Real-Elasticsearch tests start JVMs as `estest`; two test threads keep two nodes (or one
# three-node cluster) at a time on a 2-core machine without starving them into timeouts.
step "cargo test (unit, snapshot, binary, PTY and real-Elasticsearch tests)"
t0=$(date +%s)
ES_SECURE_TEST_REQUIRE=1 cargo test --locked --features fault-injection --lib --bins --tests --no-fail-fast -- --test-threads="${ES_SECURE_TEST_THREADS:-2}"
step "all tests passed in $(( $(date +%s) - t0 ))s"
