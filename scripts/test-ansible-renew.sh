#!/usr/bin/env bash
# The Ansible renewal (contrib/ansible/renew.yml, role es_secure, tasks_from: renew), run for
# real against this host (connection local) on a scratch copy of the deb fixture install
# secured with 20-day certificates (no Elasticsearch runs: renew takes its "not running" path):
#   1. --check: reports what is due, changes nothing (changed=0, no byte changed);
#   2. within 30 days: the CA host renews (changed=1; the certificates have new serials);
#   3. within 10 days: nothing is due (changed=0, no byte changed).
# ansible-core (pinned, as scripts/test-ansible.sh) from PyPI into a venv under the test cache.
#
# Usage: scripts/test-ansible-renew.sh   (ES_SECURE_BIN=path/to/es-secure; default target/debug)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$(realpath "${ES_SECURE_BIN:-$ROOT/target/debug/es-secure}")
[ -x "$BIN" ] || { echo "no es-secure binary at $BIN (cargo build first)" >&2; exit 1; }
CACHE=${ES_SECURE_TEST_CACHE:-/var/cache/es-secure-test}
ANSIBLE_CORE_VERSION=2.17.7
VENV=$CACHE/ansible-venv-$ANSIBLE_CORE_VERSION
if [ ! -x "$VENV/bin/ansible-playbook" ]; then
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q "ansible-core==$ANSIBLE_CORE_VERSION"
fi
W=$(mktemp -d /tmp/es-secure-ansible-renew.XXXXXX)
trap 'rm -rf "$W"' EXIT
die() { echo "FAIL: $*" >&2; exit 1; }

fixture=$ROOT/tests/fixtures/installs/deb
i=$W/install
mkdir -p "$i/elasticsearch" "$i/kibana" "$i/home/lib" "$i/state"
chmod 755 "$W" "$i"
chmod 700 "$i/state"
cp "$fixture/elasticsearch/elasticsearch.yml" "$i/elasticsearch/"
cp "$fixture/kibana/kibana.yml" "$i/kibana/"
: >"$i/home/lib/elasticsearch-8.19.21.jar"
cat >"$W/answers.yml" <<EOF
version: 1
tier: https
elasticsearch:
  restart: manual
  allow_partial_cluster: true
nodes:
  - {name: node-1, dns: [node-1.example.internal, localhost], ip: [10.0.0.11, 127.0.0.1]}
this_node: node-1
certificates:
  validity_days: 20
EOF
# The role calls `es-secure …`; this wrapper points it at the scratch install.
cat >"$W/es-secure" <<EOF
#!/bin/sh
exec "$BIN" --es-home "$i/home" --es-config "$i/elasticsearch" --kibana-config "$i/kibana" --es-user nobody "\$@"
EOF
chmod 755 "$W/es-secure"
rc=0
"$W/es-secure" apply --yes --answers "$W/answers.yml" --state-dir "$i/state" >"$W/apply.log" 2>&1 || rc=$?
[ "$rc" = 7 ] || { cat "$W/apply.log" >&2; die "apply exited $rc (7 expected: restart pending)"; }
# Nothing listens there: renew does not wait for a node.
sed -i -e 's/^network.host:.*/network.host: 127.0.0.1/' -e 's/^http.port:.*/http.port: 9/' "$i/elasticsearch/elasticsearch.yml"
printf 'elasticsearch:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: %s\n' "$(command -v python3)" >"$W/inventory.yml"

serials() { for c in "$i"/elasticsearch/certs/*.crt "$i"/kibana/certs/*.crt; do openssl x509 -noout -serial -in "$c" 2>/dev/null || true; done; }
tree_sum() { find "$i/elasticsearch" "$i/kibana" -type f -print0 | sort -z | xargs -0 sha256sum; }
play() { # extra args…
    "$VENV/bin/ansible-playbook" -i "$W/inventory.yml" "$ROOT/contrib/ansible/renew.yml" \
        -e "es_secure_bin=$W/es-secure" -e "es_secure_state_dir=$i/state" \
        -e es_secure_ca_host=localhost "$@" >"$W/play.log" 2>&1 || { cat "$W/play.log" >&2; die "ansible-playbook $*"; }
    grep -E '^localhost +:' "$W/play.log"
}

before=$(tree_sum)
recap=$(play --check)
echo "check mode: $recap"
[[ $recap == *"changed=0"* ]] || die "--check reported a change: $recap"
[ "$before" = "$(tree_sum)" ] || die "--check changed files"

old=$(serials)
recap=$(play)
echo "within 30 days: $recap"
[[ $recap == *"changed=1"* ]] || { cat "$W/play.log" >&2; die "renew within 30 days did not report changed=1: $recap"; }
[ "$old" != "$(serials)" ] || die "the certificates were not renewed"

before=$(tree_sum)
recap=$(play -e es_secure_renew_within=10)
echo "within 10 days: $recap"
[[ $recap == *"changed=0"* ]] || die "nothing due, but changed: $recap"
[ "$before" = "$(tree_sum)" ] || die "nothing due, but files changed"
echo "OK: the Ansible renew task renews when due (changed=1) and only then (changed=0 otherwise)"
