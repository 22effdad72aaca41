#!/usr/bin/env bash
# The real test of the Ansible role (contrib/ansible, role es_secure):
#   1. ansible-core (pinned) from PyPI into a venv under the test cache;
#   2. three systemd-nspawn containers booted from the deb-layout image of
#      scripts/nspawn-image.sh plus python3 (Ansible's modules need it), sharing the host's
#      network: node-N serves 127.0.0.N:9200/9300, each with its own cgroup and its own
#      /etc/elasticsearch (a bind-mounted copy, so this script can read what es-secure wrote);
#   3. an unsecured 3-node cluster with 3 documents;
#   4. `ansible-playbook site.yml` (tier https, CA on node-1), then checks: cluster green with
#      3 nodes, the documents still there, every node serves HTTPS that only our CA validates,
#      anonymous 401, transport TLS with verification_mode full on every node, and a
#      certificate from a foreign CA refused by node-1's transport port;
#   5. the playbook again: changed=0 on every host;
#   6. a CA-preserving change (hardening.tls_protocols: [TLSv1.3]): the role restarts the nodes
#      one at a time (node-2, node-3, then the CA host), checked by a sampler (never two nodes
#      down, the documents readable throughout), every MainPID new, green with 3 nodes, TLS 1.3
#      only on every node;
#   7. the playbook again: changed=0; then --check: changed=0, nothing runs;
#   8. for the benchmark line: a bare full-cluster restart (stop all, start all, green) of
#      the same three nodes.
# Connection: tests/ansible/connection_plugins/nsenter_pid.py enters the container's PID 1
# namespaces (nsenter -a) — a real shell inside each container, no sshd/keys/ports to set up.
#
#   ES_SECURE_BIN=target/debug/es-secure scripts/test-ansible.sh
# Needs root and the environment of scripts/test-env.sh (ES_SECURE_TEST_*). Takes ~10 min.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ANSIBLE_CORE_VERSION=2.17.7
CACHE=${ES_SECURE_TEST_CACHE:-/var/cache/es-secure-test}
BIN=$(realpath "${ES_SECURE_BIN:-target/debug/es-secure}")
VERSION=${ES_SECURE_TEST_VERSION_8:?run scripts/test-env.sh first (ES_SECURE_TEST_VERSION_8 unset)}
JAVA=${ES_SECURE_TEST_JAVA_8:?ES_SECURE_TEST_JAVA_8 unset}
WORK=$(mktemp -d /tmp/es-secure-ansible.XXXXXX)
started=$(date +%s)

log() { printf '[test-ansible +%ss] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "run as root (nspawn, nsenter, cgroups)"
[ -x "$BIN" ] || die "no es-secure binary at $BIN (cargo build)"
# What Ansible copies to each node: a debug build carries ~170 MB of debug info that a package
# does not (195 MB -> 28 MB); the same code without it, so the rollout's time is the role's and
# es-secure's, not three copies of debug info through a pipe (a release build has none to
# lose). Without `strip` the binary goes as it is.
if command -v strip >/dev/null && strip --strip-debug -o "$WORK/es-secure" "$BIN" 2>/dev/null; then
    BIN=$WORK/es-secure
fi

# --- 1. ansible-core ---------------------------------------------------------------------------
VENV=$CACHE/ansible-venv-$ANSIBLE_CORE_VERSION
if [ ! -x "$VENV/bin/ansible-playbook" ]; then
    log "installing ansible-core==$ANSIBLE_CORE_VERSION into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q "ansible-core==$ANSIBLE_CORE_VERSION"
fi
"$VENV/bin/ansible-playbook" --version >"$WORK/ansible-version" 2>&1 || die "ansible-playbook does not run"
head -n 1 "$WORK/ansible-version" >&2

# --- 2. the image: the deb-layout image plus python3 -------------------------------------------
BASE_IMG=$(scripts/nspawn-image.sh 8)
AIMG_DIR=$CACHE/nspawn/ansible-$VERSION
AIMG=$AIMG_DIR/rootfs
# Bump IMAGE_REV when the python3 layer changes; the base image's own stamp is included.
IMAGE_REV=1
WANT="$(cat "$(dirname "$BASE_IMG")/.complete") rev $IMAGE_REV"
exec 8>"$CACHE/nspawn/.ansible-lock"
flock -w 900 8 || die "timed out waiting for the image lock"
if [ ! -f "$AIMG_DIR/.complete" ] || [ "$(cat "$AIMG_DIR/.complete")" != "$WANT" ]; then
    log "building $AIMG (image + python3)"
    rm -rf "$AIMG_DIR"
    mkdir -p "$AIMG_DIR"
    cp -a "$BASE_IMG" "$AIMG"
    cp /etc/resolv.conf "$AIMG/etc/resolv.conf"
    timeout 600 chroot "$AIMG" apt-get update -qq >&2
    timeout 600 chroot "$AIMG" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends python3 >&2
    chroot "$AIMG" apt-get clean
    rm -rf "$AIMG/var/lib/apt/lists/"* "$AIMG/etc/resolv.conf"
    echo "$WANT" >"$AIMG_DIR/.complete"
fi
flock -u 8

# --- 3. three containers, an unsecured cluster with documents ----------------------------------
mountpoint -q /run/systemd/nspawn || { mkdir -p /run/systemd/nspawn && mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn; }
declare -A NSPAWN REAL LEADER
CG_NAME=es-secure-ansible-$$
cleanup() {
    local rc=$?
    for n in 1 2 3; do
        [ -n "${LEADER[$n]:-}" ] && timeout 30 nsenter -t "${LEADER[$n]}" -a systemctl poweroff >/dev/null 2>&1 || true
    done
    # systemd-nspawn itself (the child of `timeout`), then `timeout`: killing only `timeout`
    # would leave nspawn and its container running.
    for n in 1 2 3; do
        for pid in ${REAL[$n]:-} ${NSPAWN[$n]:-}; do
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
            kill -KILL "$pid" 2>/dev/null || true
        done
    done
    for n in 1 2 3; do
        for root in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
            find "$root/$CG_NAME-$n" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

boot() {
    local n=$1 dir=$WORK/node-$1
    mkdir -p "$dir"
    cp -a "$AIMG/etc/elasticsearch" "$dir/etc"
    cat >"$dir/etc/elasticsearch.yml" <<YML
cluster.name: fleet
node.name: node-$n
path.data: /var/lib/elasticsearch
path.logs: /var/log/elasticsearch
network.host: 127.0.0.$n
http.port: 9200
transport.port: 9300
discovery.seed_hosts: ["127.0.0.1:9300", "127.0.0.2:9300", "127.0.0.3:9300"]
cluster.initial_master_nodes: [node-1, node-2, node-3]
xpack.security.enabled: false
YML
    local args=(--directory="$AIMG" --boot --volatile=overlay --register=no --keep-unit
        --console=passive --machine="fleet-node-$n" --hostname=es-node
        --bind="$dir/etc:/etc/elasticsearch"
        --bind-ro="$JAVA")
    for extra in /etc/java-17-openjdk /etc/ssl/certs/java; do
        [ -d "$extra" ] && args+=(--bind-ro="$extra")
    done
    local cgs=()
    for root in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
        mkdir -p "$root/$CG_NAME-$n"
        cgs+=("$root/$CG_NAME-$n/cgroup.procs")
    done
    # Its own cgroup first: containers started from one cgroup would share payload/.
    setsid timeout 3600 sh -c "echo \$\$ > ${cgs[0]} && echo \$\$ > ${cgs[1]} && exec systemd-nspawn \"\$@\"" sh "${args[@]}" \
        </dev/null >"$WORK/nspawn-$n.log" 2>&1 &
    NSPAWN[$n]=$!
}

find_leader() {
    local n=$1 nspawn child
    for _ in $(seq 1 120); do
        for nspawn in $(pgrep -P "${NSPAWN[$n]}"); do
            # No child yet: pgrep fails, which must not end the script (set -e, pipefail).
            child=$(pgrep -P "$nspawn" | head -n 1 || true)
            if [ -n "$child" ]; then
                REAL[$n]=$nspawn
                LEADER[$n]=$child
                return 0
            fi
        done
        sleep 0.5
    done
    die "node-$n: no container PID 1 (see $WORK/nspawn-$n.log): $(tail -n 20 "$WORK/nspawn-$n.log")"
}

in_node() {
    local n=$1
    shift
    timeout --kill-after=10 900 nsenter -t "${LEADER[$n]}" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
}

log "booting three containers"
for n in 1 2 3; do boot "$n"; done
for n in 1 2 3; do find_leader "$n"; done
for n in 1 2 3; do
    # Fails at once until systemd listens on its bus; then --wait blocks until the boot ends.
    state=
    for _ in $(seq 1 300); do
        state=$(in_node "$n" systemctl is-system-running --wait 2>/dev/null || true)
        case "$state" in running | degraded | maintenance | stopping) break ;; esac
        sleep 1
    done
    [ "$state" = running ] || die "node-$n booted '$state': $(in_node "$n" systemctl --failed --no-pager; tail -n 30 "$WORK/nspawn-$n.log")"
done
health() { curl -sS --max-time 130 "$@"; }
for _ in $(seq 1 60); do
    h=$(health "http://127.0.0.1:9200/_cluster/health?wait_for_nodes=3&wait_for_status=green&timeout=30s" || true)
    case "$h" in *'"number_of_nodes":3'*) break ;; esac
    sleep 2
done
echo "$h" | grep -q '"number_of_nodes":3' || die "unsecured cluster did not form: $h $(in_node 1 systemctl status elasticsearch --no-pager | tail -n 20)"
for i in 1 2 3; do
    curl -sS --max-time 30 -XPOST -H 'Content-Type: application/json' \
        "http://127.0.0.1:9200/books/_doc?refresh=true" -d "{\"n\": $i}" >/dev/null
done
log "unsecured cluster formed with 3 nodes and 3 documents"

# --- 4. the playbook ---------------------------------------------------------------------------
cat >"$WORK/inventory.yml" <<INV
all:
  children:
    elasticsearch:
      hosts:
        node-1: {nsenter_leader_pid: ${LEADER[1]}}
        node-2: {nsenter_leader_pid: ${LEADER[2]}}
        node-3: {nsenter_leader_pid: ${LEADER[3]}}
      vars:
        ansible_connection: nsenter_pid
        ansible_python_interpreter: /usr/bin/python3
        es_secure_binary: $BIN
        es_secure_ca_host: node-1
        es_secure_answers:
          version: 1
          tier: https
          elasticsearch:
            health_timeout_secs: 600
          passwords:
            output_file: /root/es-secure-passwords.txt
          nodes:
            - {name: node-1, dns: [localhost], ip: [127.0.0.1]}
            - {name: node-2, dns: [localhost], ip: [127.0.0.2]}
            - {name: node-3, dns: [localhost], ip: [127.0.0.3]}
INV
export ANSIBLE_CONNECTION_PLUGINS=$ROOT/tests/ansible/connection_plugins
export ANSIBLE_ROLES_PATH=$ROOT/contrib/ansible/roles
export ANSIBLE_LOCAL_TEMP=$WORK/ansible-local ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_NOCOLOR=1
export ANSIBLE_FORKS=3
# One process per task and host instead of put-file + run + clean-up (the plugin supports it).
export ANSIBLE_PIPELINING=1
playbook() {
    timeout --kill-after=30 2400 "$VENV/bin/ansible-playbook" -i "$WORK/inventory.yml" \
        "$ROOT/contrib/ansible/site.yml" "$@"
}
recap_changed() { sed -n '/PLAY RECAP/,$p' "$1" | grep -o 'changed=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' '; }

log "ansible-playbook site.yml (none -> https)"
t0=$(date +%s)
# scripts/bench-ansible-rollout.sh reads the per-task timestamps of this run from ANSIBLE_LOG_PATH.
[ -z "${ES_SECURE_ANSIBLE_TASK_LOG:-}" ] || export ANSIBLE_LOG_PATH=$ES_SECURE_ANSIBLE_TASK_LOG
playbook ${ES_SECURE_ANSIBLE_DEBUG:+-e es_secure_no_log=false -vvv} >"$WORK/run1.log" 2>&1 || { cat "$WORK/run1.log" >&2; die "the playbook failed"; }
rollout=$(( $(date +%s) - t0 ))
unset ANSIBLE_LOG_PATH
sed -n '/PLAY RECAP/,$p' "$WORK/run1.log" >&2
log "rollout took ${rollout}s"

CA=$WORK/node-1/etc/certs/ca.crt
[ -s "$CA" ] || die "no CA certificate at $CA"
PW=$(in_node 1 cat /root/es-secure-passwords.txt | sed -n 's/^elastic: //p')
[ -n "$PW" ] || die "no elastic password in node-1's passwords file"
h=$(health --cacert "$CA" -u "elastic:$PW" "https://127.0.0.1:9200/_cluster/health?wait_for_nodes=3&wait_for_status=green&timeout=120s")
echo "$h" | grep -q '"status":"green"' || die "cluster not green: $h"
echo "$h" | grep -q '"number_of_nodes":3' || die "not 3 nodes: $h"
c=$(curl -sS --max-time 30 --cacert "$CA" -u "elastic:$PW" "https://127.0.0.1:9200/books/_count")
echo "$c" | grep -q '"count":3' || die "documents lost: $c"
for n in 1 2 3; do
    code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' --cacert "$CA" "https://127.0.0.$n:9200/")
    [ "$code" = 401 ] || die "node-$n: anonymous HTTPS answered $code, not 401"
    # Pinned to our CA: the system's CAs do not validate the node's certificate.
    if curl -sS --max-time 30 -o /dev/null "https://127.0.0.$n:9200/" 2>/dev/null; then
        die "node-$n: HTTPS validated without our CA"
    fi
    if curl -sS --max-time 10 -o /dev/null "http://127.0.0.$n:9200/" 2>/dev/null; then
        die "node-$n: still answers plain HTTP"
    fi
    grep -q '^xpack.security.transport.ssl.verification_mode: full' "$WORK/node-$n/etc/elasticsearch.yml" ||
        die "node-$n: transport verification is not full"
    in_node "$n" test ! -e /root/es-secure.bundle.yml || die "node-$n: the bundle was left on the node"
done
alloc=$(curl -sS --max-time 30 --cacert "$CA" -u "elastic:$PW" "https://127.0.0.1:9200/_cluster/settings?flat_settings=true")
case "$alloc" in *allocation.enable*) die "shard allocation left limited: $alloc" ;; esac
log "https: green, 3 nodes, 3 documents, HTTPS pinned to the CA on every node, transport TLS full"

# A node presenting a certificate from another CA is refused on the transport layer. The
# probe is a TLS 1.2 handshake with node-1's transport port (in 1.2 the server judges the
# client certificate inside the handshake, so a refusal fails it): with node-2's own
# certificate it completes — the probe can pass — and with a certificate for the same names
# from a foreign CA node-1 aborts it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=foreign-ca \
    -keyout "$WORK/foreign-ca.key" -out "$WORK/foreign-ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=node-2 \
    -keyout "$WORK/foreign.key" -out "$WORK/foreign.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.2\nextendedKeyUsage=serverAuth,clientAuth\n' >"$WORK/foreign.ext"
openssl x509 -req -in "$WORK/foreign.csr" -CA "$WORK/foreign-ca.crt" -CAkey "$WORK/foreign-ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/foreign.ext" -out "$WORK/foreign.crt" 2>/dev/null
transport_probe() {
    timeout 30 openssl s_client -connect 127.0.0.1:9300 -tls1_2 -CAfile "$CA" \
        -cert "$1" -key "$2" </dev/null >"$WORK/probe.log" 2>&1
}
transport_probe "$WORK/node-2/etc/certs/transport.crt" "$WORK/node-2/etc/certs/transport.key" ||
    { cat "$WORK/probe.log" >&2; die "node-1's transport refused node-2's own certificate"; }
if transport_probe "$WORK/foreign.crt" "$WORK/foreign.key"; then
    cat "$WORK/probe.log" >&2
    die "node-1's transport accepted a certificate from a foreign CA"
fi
grep -qi 'alert' "$WORK/probe.log" || { cat "$WORK/probe.log" >&2; die "the foreign-CA handshake failed without a TLS alert"; }
log "transport: node-2's certificate accepted, a foreign-CA certificate for the same names refused"

# --- 5. idempotence ---------------------------------------------------------------------------
log "ansible-playbook site.yml again (must change nothing)"
playbook >"$WORK/run2.log" 2>&1 || { cat "$WORK/run2.log" >&2; die "the second run failed"; }
sed -n '/PLAY RECAP/,$p' "$WORK/run2.log" >&2
[ "$(recap_changed "$WORK/run2.log")" = "0 " ] || die "second run changed something: $(recap_changed "$WORK/run2.log")"
log "second run: changed=0 on every host"

# --- 6. a CA-preserving change: a rolling restart, one node at a time -----------------------------
# HTTPS and transport limited to TLS 1.3 (hardening.tls_protocols): same CA, so `plan --json`
# says "restart": "rolling" and the role restarts node-2, node-3, then node-1 (the CA host),
# one at a time. A sampler watches the run: never two nodes down at once, every node down once,
# the documents readable in every sample.
sed 's/^          tier: https$/          tier: https\n          hardening: {tls_protocols: [TLSv1.3]}/' \
    "$WORK/inventory.yml" >"$WORK/inventory-rolling.yml"
grep -q 'tls_protocols' "$WORK/inventory-rolling.yml" || die "could not write the rolling inventory"
declare -A PID_BEFORE
for n in 1 2 3; do PID_BEFORE[$n]=$(in_node "$n" systemctl show -p MainPID --value elasticsearch); done
sampler() {
    # Also ends when the script does (its work directory is removed on exit).
    while [ -d "$WORK" ] && [ ! -e "$WORK/sampler.stop" ]; do
        local line="" up=() n rc count=""
        for n in 1 2 3; do
            rc=0
            curl -sS --max-time 5 -o /dev/null --cacert "$CA" "https://127.0.0.$n:9200/" 2>/dev/null || rc=$?
            # 7: connection refused, the node is down; a slow answer (28) is not "down".
            if [ "$rc" = 7 ]; then line+=" down"; else line+=" up"; up+=("$n"); fi
        done
        for n in "${up[@]}"; do
            count=$(curl -sS --max-time 10 --cacert "$CA" -u "elastic:$PW" "https://127.0.0.$n:9200/books/_count" 2>/dev/null |
                grep -o '"count":[0-9]*' || true)
            [ "$count" = '"count":3' ] && break
        done
        echo "$(date +%s.%N)$line ${count:-none}" >>"$WORK/samples"
        sleep 0.5
    done
}
sampler &
SAMPLER=$!
log "ansible-playbook site.yml with hardening.tls_protocols: [TLSv1.3] (a rolling restart)"
t0=$(date +%s)
ok=0
timeout --kill-after=30 2400 "$VENV/bin/ansible-playbook" -i "$WORK/inventory-rolling.yml" \
    "$ROOT/contrib/ansible/site.yml" >"$WORK/run-rolling.log" 2>&1 || ok=$?
rolling=$(( $(date +%s) - t0 ))
touch "$WORK/sampler.stop"
wait "$SAMPLER" || true
[ "$ok" = 0 ] || { cat "$WORK/run-rolling.log" >&2; die "the rolling run failed"; }
sed -n '/PLAY RECAP/,$p' "$WORK/run-rolling.log" >&2
grep -q 'Rolling restart of node-1 2/3' "$WORK/run-rolling.log" || die "the role did not restart node by node"
full=$(awk '/^TASK \[/ { in_full = /Full-cluster restart/ } in_full && /^changed:/' "$WORK/run-rolling.log")
[ -z "$full" ] || die "the role did a full-cluster restart for a CA-preserving change: $full"
starts=""
for n in 1 2 3; do
    pid=$(in_node "$n" systemctl show -p MainPID --value elasticsearch)
    [ "$pid" != "${PID_BEFORE[$n]}" ] && [ "$pid" != 0 ] || die "node-$n was not restarted (MainPID ${PID_BEFORE[$n]} -> $pid)"
    starts+="$(in_node "$n" systemctl show -p ExecMainStartTimestampMonotonic --value elasticsearch) node-$n"$'\n'
done
order=$(echo "$starts" | sort -n | awk 'NF { printf "%s ", $2 }')
[ "$order" = "node-2 node-3 node-1 " ] || die "restart order '$order', expected node-2 node-3 node-1 (the CA host last)"
[ -s "$WORK/samples" ] || die "the sampler recorded nothing"
samples=$(wc -l <"$WORK/samples")
two_down=$(awk '{ d = 0; for (i = 2; i <= 4; i++) if ($i == "down") d++; if (d > 1) n++ } END { print n + 0 }' "$WORK/samples")
[ "$two_down" = 0 ] || { cat "$WORK/samples" >&2; die "$two_down samples with two or more nodes down at once"; }
for n in 1 2 3; do
    awk -v c=$((n + 1)) '$c == "down" { found = 1 } END { exit !found }' "$WORK/samples" ||
        { cat "$WORK/samples" >&2; die "the sampler never saw node-$n down (restart not observed)"; }
done
unreadable=$(awk '$5 != "\"count\":3" { n++ } END { print n + 0 }' "$WORK/samples")
[ "$unreadable" = 0 ] || { cat "$WORK/samples" >&2; die "$unreadable samples could not read the 3 documents"; }
h=$(health --cacert "$CA" -u "elastic:$PW" "https://127.0.0.1:9200/_cluster/health?wait_for_nodes=3&wait_for_status=green&timeout=120s")
echo "$h" | grep -q '"status":"green"' && echo "$h" | grep -q '"number_of_nodes":3' || die "not green with 3 nodes after the rolling restart: $h"
alloc=$(curl -sS --max-time 30 --cacert "$CA" -u "elastic:$PW" "https://127.0.0.1:9200/_cluster/settings?flat_settings=true")
case "$alloc" in *allocation.enable*) die "shard allocation left limited after the rolling restart: $alloc" ;; esac
# Live on every node: each running node refuses a TLS 1.2 handshake and completes a 1.3 one
# (`_nodes/settings` cannot show it: Elasticsearch filters the xpack.security.*.ssl settings
# out of that API).
for n in 1 2 3; do
    timeout 30 openssl s_client -connect "127.0.0.$n:9200" -tls1_3 -CAfile "$CA" </dev/null >"$WORK/tls.log" 2>&1 ||
        { cat "$WORK/tls.log" >&2; die "node-$n: no TLS 1.3 handshake"; }
    if timeout 30 openssl s_client -connect "127.0.0.$n:9200" -tls1_2 -CAfile "$CA" </dev/null >"$WORK/tls.log" 2>&1; then
        die "node-$n still accepts TLS 1.2 after the rolling restart"
    fi
done
log "rolling restart in ${rolling}s: node-2, node-3, node-1 one at a time ($samples samples: never two down, documents readable in every one), green with 3 nodes, TLS 1.3 only on every node"

# --- 7. idempotence after it, and check mode ---------------------------------------------------
timeout --kill-after=30 2400 "$VENV/bin/ansible-playbook" -i "$WORK/inventory-rolling.yml" \
    "$ROOT/contrib/ansible/site.yml" >"$WORK/run4.log" 2>&1 || { cat "$WORK/run4.log" >&2; die "the run after the rolling restart failed"; }
[ "$(recap_changed "$WORK/run4.log")" = "0 " ] || die "the run after the rolling restart changed something: $(recap_changed "$WORK/run4.log")"
timeout --kill-after=30 2400 "$VENV/bin/ansible-playbook" -i "$WORK/inventory-rolling.yml" \
    "$ROOT/contrib/ansible/site.yml" --check >"$WORK/run5.log" 2>&1 || { cat "$WORK/run5.log" >&2; die "the check run failed"; }
[ "$(recap_changed "$WORK/run5.log")" = "0 " ] || die "check mode reports changes on a secured cluster"
log "run after the rolling restart: changed=0 on every host; --check: changed=0"

# --- 8. the benchmark line: a bare full-cluster restart of the same nodes ----------------------
t0=$(date +%s)
# Wait for these jobs only: a bare `wait` would also wait for the containers.
for action in stop start; do
    jobs_=()
    for n in 1 2 3; do
        in_node "$n" systemctl "$action" elasticsearch &
        jobs_+=($!)
    done
    for j in "${jobs_[@]}"; do wait "$j" || die "systemctl $action failed"; done
done
# Right after a start the security index may not be recovered yet (401 for elastic): retry.
for _ in $(seq 1 60); do
    h=$(health --cacert "$CA" -u "elastic:$PW" "https://127.0.0.1:9200/_cluster/health?wait_for_nodes=3&wait_for_status=green&timeout=30s" || true)
    case "$h" in *'"status":"green"'*'"number_of_nodes":3'* | *'"number_of_nodes":3'*'"status":"green"'*) break ;; esac
    sleep 2
done
echo "$h" | grep -q '"status":"green"' || die "not green after the bare restart: $h"
bare=$(( $(date +%s) - t0 ))
if [ -n "${ES_SECURE_ANSIBLE_NODE_LOGS:-}" ]; then
    # For scripts/bench-ansible-rollout.sh: where each node's starts spent their time.
    mkdir -p "$ES_SECURE_ANSIBLE_NODE_LOGS"
    for n in 1 2 3; do
        in_node "$n" journalctl -u elasticsearch -o short-iso-precise --no-pager >"$ES_SECURE_ANSIBLE_NODE_LOGS/node-$n.journal" 2>&1 || true
        in_node "$n" cat /var/log/elasticsearch/fleet.log >"$ES_SECURE_ANSIBLE_NODE_LOGS/node-$n.log" 2>&1 || true
    done
fi
log "BENCH rollout ${rollout}s vs bare full-cluster restart ${bare}s (same three nodes, same run)"
log "PASS in $(( $(date +%s) - started ))s"
