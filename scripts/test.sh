#!/usr/bin/env bash
# The one test command (README, `.ci/run`): installs what the tests need, then runs every
# test, the real-Elasticsearch ones included.
#
# What it installs (idempotent, cached outside the repository):
#   - a JDK 17 (Debian openjdk-17-jdk-headless) for Elasticsearch 8.x and a JDK >= 21 for 9.x,
#   - org.elasticsearch.distribution.integ-test-zip:elasticsearch (8.19.x, 9.x, 8.13.4) via Maven,
#   - the unprivileged user `estest` that every test node runs as (ES refuses root),
#   - openssl, curl and node for the cross-checks;
#   - Kibana's stand-in (tests/kibana_view.rs): the npm packages @elastic/elasticsearch 8.19.x,
#     9.x and yaml (cached outside the repository), the user `kbtest` as Kibana's service user,
#     Debian's chromium-headless-shell and libnss3-tools.
#   - systemd-container + mmdebstrap and the nspawn images (Debian, ES in the deb layout)
#     that tests/systemd_e2e.rs boots with a real systemd;
#   - ansible-core (pinned, PyPI, in a venv under the test cache) and python3 in a copy of
#     the nspawn image, for scripts/test-ansible.sh.
# Needs root (useradd, chown) and the package registries (Debian, Maven Central, npm, PyPI); nothing
# else from the network.
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

# The .deb: built from the debug build above (no second, release compile), installed with
# dpkg on this machine, checked, removed. cargo-deb is installed once into ~/.cargo/bin.
step "packaging: .deb with cargo-deb, installed and removed with dpkg"
scripts/deb.sh --profile dev
deb=$(ls -t target/debian/es-secure_*.deb | head -n 1)
if ! dpkg -s man-db >/dev/null 2>&1; then
    apt-get install -y -qq man-db >/dev/null || { apt-get update -qq && apt-get install -y -qq man-db >/dev/null; }
fi
dpkg -i "$deb" >/dev/null
trap 'dpkg -r es-secure >/dev/null 2>&1 || true; rm -f "$env_file"' EXIT
/usr/bin/es-secure --version
man -w es-secure
test -s /usr/share/doc/es-secure/answers.example.yml
test -s /usr/share/bash-completion/completions/es-secure
dpkg -r es-secure >/dev/null
trap 'rm -f "$env_file"' EXIT

# Real-Elasticsearch tests start JVMs as `estest`; two test threads keep two nodes (or one
# three-node cluster) at a time on a 2-core machine without starving them into timeouts.
step "cargo test (unit, snapshot, binary, PTY and real-Elasticsearch tests)"
t0=$(date +%s)
ES_SECURE_TEST_REQUIRE=1 cargo test --locked --features fault-injection --lib --bins --tests --no-fail-fast -- --test-threads="${ES_SECURE_TEST_THREADS:-2}"
step "all tests passed in $(( $(date +%s) - t0 ))s"

# The Ansible role against three real nspawn nodes (ansible-core from PyPI, ~5 min).
step "Ansible role: scripts/test-ansible.sh (3 nspawn nodes, none -> https, changed=0 rerun)"
ES_SECURE_BIN=target/debug/es-secure scripts/test-ansible.sh

step "Ansible renewal: scripts/test-ansible-renew.sh (renew.yml: --check, due, not due)"
ES_SECURE_BIN=target/debug/es-secure scripts/test-ansible-renew.sh
