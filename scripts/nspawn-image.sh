#!/usr/bin/env bash
# Builds (once) the systemd-nspawn root file system the real-systemd tests boot:
# Debian bookworm minbase with systemd, dbus and procps, and Elasticsearch laid out exactly
# like the deb package lays it out. Cached OUTSIDE the repo; a second run only checks.
#
#   scripts/nspawn-image.sh 8    # or 9; prints the image directory on stdout
#
# Reads the pristine integ-test-zip copy and the JDK path from the environment prepared by
# scripts/test-env.sh ($ES_SECURE_TEST_PRISTINE_<n>, $ES_SECURE_TEST_JAVA_<n>,
# $ES_SECURE_TEST_VERSION_<n>). The JDK is NOT copied in: scripts/nspawn-run.sh bind-mounts it
# read-only at the same path, which /etc/default/elasticsearch points ES_JAVA_HOME at.
#
# Layout (what the deb and its postinst do):
#   /usr/share/elasticsearch        the distribution, root-owned
#   /etc/elasticsearch              config, root:elasticsearch 2750, keystore pre-created
#   /etc/default/elasticsearch      ES_JAVA_HOME, ES_PATH_CONF
#   /var/lib|log/elasticsearch      elasticsearch:elasticsearch 0750
#   elasticsearch.service           the 8.19 deb unit, Type=exec + readiness ExecStartPost
#                                   (the zip has no systemd module, so no sd_notify)
#
# Needs root and the packages mmdebstrap + systemd-container (scripts/test-env.sh installs them).
set -euo pipefail

MAJOR=${1:?usage: nspawn-image.sh 8|9}
CACHE=${ES_SECURE_TEST_CACHE:-/var/cache/es-secure-test}
NSPAWN_CACHE=$CACHE/nspawn
BASE=$NSPAWN_CACHE/base-bookworm

log() { echo "[nspawn-image] $*" >&2; }
die() {
    echo "[nspawn-image] ERROR: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap, chroot, chown)"
case "$MAJOR" in
8 | 9) ;;
*) die "major version must be 8 or 9, got '$MAJOR'" ;;
esac
pristine_var=ES_SECURE_TEST_PRISTINE_$MAJOR
java_var=ES_SECURE_TEST_JAVA_$MAJOR
version_var=ES_SECURE_TEST_VERSION_$MAJOR
PRISTINE=${!pristine_var:-}
JAVA_HOME_IN=${!java_var:-}
VERSION=${!version_var:-}
[ -n "$PRISTINE" ] && [ -d "$PRISTINE/bin" ] || die "\$$pristine_var is unset or not an ES copy (run scripts/test-env.sh)"
[ -n "$JAVA_HOME_IN" ] && [ -x "$JAVA_HOME_IN/bin/java" ] || die "\$$java_var is unset or has no bin/java"
[ -n "$VERSION" ] || die "\$$version_var is unset"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (apt-get install mmdebstrap)"

IMG=$NSPAWN_CACHE/$VERSION/rootfs
STAMP=$NSPAWN_CACHE/$VERSION/.complete
mkdir -p "$NSPAWN_CACHE"

# One builder at a time: parallel test runs would otherwise race on the same directories.
exec 8>"$NSPAWN_CACHE/.lock"
flock -w 900 8 || die "timed out waiting for $NSPAWN_CACHE/.lock"

# The image depends on this script and the JDK path written into it: either changing rebuilds.
WANT_STAMP="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) $JAVA_HOME_IN"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT_STAMP" ]; then
    log "cached: $IMG"
    echo "$IMG"
    exit 0
fi

# --- the Debian base, shared by every ES version --------------------------------------------
# The mirror is the one apt already uses on this machine (deb822 or one-line format): never a
# hard-coded host, so it works behind whatever mirror the machine is configured for.
debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # First URIs: line of a stanza whose Suites include bookworm (not -security).
        uri=$(awk '
            function found() { return u != "" && s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/ }
            /^[[:space:]]*$/ { if (found()) { print u; done = 1; exit } u = ""; s = "" }
            /^URIs:/ { u = $2 }
            /^Suites:/ { $1 = ""; s = $0 }
            END { if (!done && found()) print u }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == "bookworm") { print $i; exit } } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
}

if [ ! -f "$BASE/.complete" ]; then
    MIRROR=$(debian_mirror)
    [ -n "$MIRROR" ] || die "no bookworm mirror found in /etc/apt/sources.list(.d)"
    log "mmdebstrap bookworm from $MIRROR (about 1-2 min)"
    rm -rf "$BASE"
    timeout 900 mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps \
        bookworm "$BASE" "$MIRROR" >&2
    touch "$BASE/.complete"
fi

# --- the per-version image: a copy of the base plus ES laid out like the deb ------------------
log "laying out Elasticsearch $VERSION in $IMG"
rm -rf "$NSPAWN_CACHE/$VERSION"
mkdir -p "$NSPAWN_CACHE/$VERSION"
cp -a "$BASE" "$IMG"
rm -f "$IMG/.complete"

# A minbase image has no /etc/hosts, so `localhost` would not resolve (es-secure talks to
# https://localhost:9200), nor would the host name (ES's logging dies on start without it).
cat >"$IMG/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
127.0.1.1	es-node
::1	localhost ip6-localhost ip6-loopback
HOSTS
echo "es-node" >"$IMG/etc/hostname"

# ids are the container's: no user namespace, so run the tools inside the image.
chroot "$IMG" groupadd --system elasticsearch
chroot "$IMG" useradd --system --no-create-home --home-dir /nonexistent --gid elasticsearch \
    --shell /sbin/nologin --comment "elasticsearch user" elasticsearch

ESH=$IMG/usr/share/elasticsearch
mkdir -p "$ESH"
cp -a "$PRISTINE/." "$ESH/"
# The deb keeps config out of ES_HOME.
mkdir -p "$IMG/etc/elasticsearch"
mv "$ESH/config/"* "$IMG/etc/elasticsearch/"
rmdir "$ESH/config"
rm -rf "$ESH/logs"
chown -R root:root "$ESH"

# The deb's wrapper: systemd starts this; `exec` keeps ES the unit's main process.
cat >"$ESH/bin/systemd-entrypoint" <<'ENTRY'
#!/bin/sh
# Lets systemd feed a keystore passphrase file to the start script (as the deb's does).
if [ -n "$ES_KEYSTORE_PASSPHRASE_FILE" ] ; then
  exec /usr/share/elasticsearch/bin/elasticsearch "$@" < "$ES_KEYSTORE_PASSPHRASE_FILE"
else
  exec /usr/share/elasticsearch/bin/elasticsearch "$@"
fi
ENTRY
chmod 0755 "$ESH/bin/systemd-entrypoint"

cat >"$IMG/etc/default/elasticsearch" <<DEFAULTS
################################
# Elasticsearch
################################

# Elasticsearch home directory
ES_HOME=/usr/share/elasticsearch

# Elasticsearch Java path (bind-mounted read-only from the host by nspawn-run.sh)
ES_JAVA_HOME=$JAVA_HOME_IN

# Elasticsearch configuration directory
ES_PATH_CONF=/etc/elasticsearch
DEFAULTS

# Settings the deb ships (paths) plus what a loopback-only test node needs. No security
# settings: the tests start from tier none.
cat >"$IMG/etc/elasticsearch/elasticsearch.yml" <<'YML'
# ======================== Elasticsearch Configuration =========================
cluster.name: nspawn-test
node.name: es-node
path.data: /var/lib/elasticsearch
path.logs: /var/log/elasticsearch
network.host: 127.0.0.1
http.port: 9200
discovery.type: single-node
xpack.security.enabled: false
YML
# The JVM sees the whole VM's memory (no memory cgroup limit): pin a small heap.
mkdir -p "$IMG/etc/elasticsearch/jvm.options.d"
printf -- '-Xms512m\n-Xmx512m\n' >"$IMG/etc/elasticsearch/jvm.options.d/heap.options"

mkdir -p "$IMG/var/lib/elasticsearch" "$IMG/var/log/elasticsearch"
chroot "$IMG" chown elasticsearch:elasticsearch /var/lib/elasticsearch /var/log/elasticsearch
chmod 0750 "$IMG/var/lib/elasticsearch" "$IMG/var/log/elasticsearch"

# The deb's postinst creates the keystore: ES cannot write into /etc/elasticsearch (2750).
# The JDK is not in the image, so run the keystore tool from the host against the image's
# config directory, with the host JDK.
ES_PATH_CONF="$IMG/etc/elasticsearch" ES_JAVA_HOME="$JAVA_HOME_IN" \
    timeout 180 "$ESH/bin/elasticsearch-keystore" create >&2
chroot "$IMG" chown -R root:elasticsearch /etc/elasticsearch
chmod 2750 "$IMG/etc/elasticsearch"
find "$IMG/etc/elasticsearch" -type f -exec chmod 0660 {} +
find "$IMG/etc/elasticsearch" -mindepth 1 -type d -exec chmod 2750 {} +

# Readiness, in place of sd_notify: succeed once the node's own HTTP port accepts, fail as soon
# as the main process is gone (so `systemctl restart` fails when ES dies on start, as with the
# deb). "Own": the address and port this node's elasticsearch.yml binds (http.host, else
# network.host; http.port), so on a shared network namespace (the Ansible test's three nodes on
# 127.0.0.1-3) a node is not reported ready because another node's port answers.
cat >"$IMG/usr/local/bin/es-wait-ready" <<'READY'
#!/bin/bash
# ExecStartPost of elasticsearch.service: exits 0 when this node's HTTP address accepts a TCP
# connection (http or https alike), 1 when $MAINPID has exited. TimeoutStartSec bounds it.
pid=${MAINPID:?MAINPID not set}
yml=${ES_PATH_CONF:-/etc/elasticsearch}/elasticsearch.yml
# The first value of a top-level `key: value` (or `key: [a, b]`) line, quotes stripped.
setting() {
    sed -n "s/^$1:[[:space:]]*//p" "$yml" 2>/dev/null | head -n 1 |
        sed -e 's/[[:space:]]*#.*$//' -e 's/^\[//' -e 's/,.*$//' -e 's/\]$//' -e 's/["'"'"' ]//g'
}
host=$(setting 'http\.host')
[ -n "$host" ] || host=$(setting 'network\.host')
case "$host" in
'' | _local_ | _local:* | localhost | 0.0.0.0 | '::' | _site_ | _global_ | _*_) host=127.0.0.1 ;;
esac
port=$(setting 'http\.port')
port=${port%%-*}
[ -n "$port" ] || port=9200
while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "es-wait-ready: Elasticsearch (pid $pid) exited before $host:$port was ready" >&2
        exit 1
    fi
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
        exit 0
    fi
    sleep 0.5
done
READY
chmod 0755 "$IMG/usr/local/bin/es-wait-ready"

# The 8.19 deb's unit, except Type=exec + ExecStartPost (see above).
cat >"$IMG/usr/lib/systemd/system/elasticsearch.service" <<'UNIT'
[Unit]
Description=Elasticsearch
Documentation=https://www.elastic.co
Wants=network-online.target
After=network-online.target

[Service]
# The deb uses Type=notify with ES's systemd module; the integ-test-zip has no such module.
Type=exec
RuntimeDirectory=elasticsearch
PrivateTmp=true
Environment=ES_HOME=/usr/share/elasticsearch
Environment=ES_PATH_CONF=/etc/elasticsearch
Environment=PID_DIR=/var/run/elasticsearch
Environment=ES_SD_NOTIFY=true
EnvironmentFile=-/etc/default/elasticsearch

WorkingDirectory=/usr/share/elasticsearch

User=elasticsearch
Group=elasticsearch

ExecStart=/usr/share/elasticsearch/bin/systemd-entrypoint -p ${PID_DIR}/elasticsearch.pid --quiet
ExecStartPost=/usr/local/bin/es-wait-ready

StandardOutput=journal
StandardError=inherit

LimitNOFILE=65535
LimitNPROC=4096
LimitAS=infinity
LimitFSIZE=infinity
TimeoutStopSec=0
KillSignal=SIGTERM
KillMode=process
SendSIGKILL=no
SuccessExitStatus=143
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
UNIT
chroot "$IMG" systemctl enable elasticsearch.service >&2
# Nothing in the container needs these; they only slow the boot down.
chroot "$IMG" systemctl mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer fstrim.timer >&2 2>/dev/null || true

echo "$WANT_STAMP" >"$STAMP"
log "built $IMG"
echo "$IMG"
