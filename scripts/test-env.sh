#!/usr/bin/env bash
# Prepares everything the real-Elasticsearch tests need and prints the environment
# they read. Idempotent: a second run only checks and re-prints.
#
#   eval "$(scripts/test-env.sh)"          # print `export VAR=...` lines
#   scripts/test-env.sh /tmp/es-test.env   # or write them to a file (then `. file`)
#
# What it does (as root; it installs packages and creates a user):
#   * Debian packages if missing: openjdk-17-jdk-headless (ES 8.x), openssl, curl, unzip, maven.
#   * A Java >= 21 for ES 9.x: $ES_SECURE_TEST_JAVA_9 if set, else Temurin 25 from the machine
#     image, else any /usr/lib/jvm JDK >= 21.
#   * The Maven Central integ-test-zip of each pinned ES version into a cache OUTSIDE the repo
#     (${ES_SECURE_TEST_CACHE:-/var/cache/es-secure-test}), unpacked once into a pristine copy.
#   * The test-only `es-shim` plugin (tests/support/es-shim), compiled against each pinned
#     version and installed into the pristine copy's plugins/: it supplies the analysis
#     components of the missing analysis-common module that the .security index needs.
#     docs/es-zip-notes.md explains why.
#   * The unprivileged user that runs Elasticsearch (ES refuses to run as root), and a second
#     one, `kbtest`, that plays Kibana's service user in tests/kibana_view.rs.
#   * Kibana's stand-in (tests/support/kibana-view): Node.js (Debian's, if none is installed)
#     and its npm packages (@elastic/elasticsearch 8.19.x and 9.x, yaml) into $CACHE/kibana-view, and
#     Debian's chromium-headless-shell + libnss3-tools (certutil) for the browser checks.
#   * systemd-container + mmdebstrap, and the systemd-nspawn images of tests/systemd_e2e.rs
#     (scripts/nspawn-image.sh: Debian + ES in the deb layout, cached under $CACHE/nspawn).
#
# Needs the network only for Debian packages, Maven Central and the npm registry.
set -euo pipefail

ES8_VERSION=8.19.21 # newest 8.19.x on Maven Central when pinned
ES9_VERSION=9.5.4
ES8_OLD_VERSION=8.13.4 # last version writing keystore format 5 (keystore cross-checks, tests/matrix_real_es.rs)
# Extra versions to prepare for scripts/test-matrix.sh (space-separated, e.g. "8.0.0 8.17.10");
# each gets $CACHE/pristine-<version> like the pinned ones. Empty for scripts/test.sh.
MATRIX_VERSIONS=${ES_SECURE_TEST_MATRIX:-}
ARTIFACT=org.elasticsearch.distribution.integ-test-zip:elasticsearch
CACHE=${ES_SECURE_TEST_CACHE:-/var/cache/es-secure-test}
TEST_USER=${ES_SECURE_TEST_USER:-estest}
KIBANA_TEST_USER=${ES_SECURE_TEST_KIBANA_USER:-kbtest}
JAVA17_DEFAULT=/usr/lib/jvm/java-17-openjdk-amd64
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHIM_DIR=$REPO_ROOT/tests/support/es-shim
OUT=${1:-}

log() { echo "[test-env] $*" >&2; }
die() {
    echo "[test-env] ERROR: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages, creates user '$TEST_USER' and writes $CACHE"

# --- Debian packages --------------------------------------------------------------------
APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

need_pkgs=()
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v unzip >/dev/null || need_pkgs+=(unzip)
command -v mvn >/dev/null || need_pkgs+=(maven)
command -v runuser >/dev/null || need_pkgs+=(util-linux)
command -v flock >/dev/null || need_pkgs+=(util-linux)
command -v systemd-nspawn >/dev/null || need_pkgs+=(systemd-container)
command -v mmdebstrap >/dev/null || need_pkgs+=(mmdebstrap)
[ -x "$JAVA17_DEFAULT/bin/javac" ] || need_pkgs+=(openjdk-17-jdk-headless)
command -v node >/dev/null || need_pkgs+=(nodejs)
command -v npm >/dev/null || need_pkgs+=(npm)
command -v chromium-headless-shell >/dev/null || need_pkgs+=(chromium-headless-shell)
command -v certutil >/dev/null || need_pkgs+=(libnss3-tools)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    # shellcheck disable=SC2207 # de-duplicate the package names
    uniq_pkgs=($(printf '%s\n' "${need_pkgs[@]}" | sort -u))
    apt_install "${uniq_pkgs[@]}"
else
    log "packages present: openssl curl unzip maven openjdk-17 node npm chromium-headless-shell certutil"
fi

# --- Java ---------------------------------------------------------------------------------
# `java -version` prints e.g. `openjdk version "25.0.3" ...` or `"17.0.15"`; the major is the
# first number.
java_major() {
    "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

JAVA_8=${ES_SECURE_TEST_JAVA_8:-$JAVA17_DEFAULT}
[ -x "$JAVA_8/bin/javac" ] || die "no JDK at $JAVA_8 (ES 8.x needs Java 17)"
[ "$(java_major "$JAVA_8")" -ge 17 ] || die "$JAVA_8 is older than Java 17"

find_java_9() {
    local c m
    for c in "${ES_SECURE_TEST_JAVA_9:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
        [ -n "$c" ] && [ -x "$c/bin/java" ] && [ -x "$c/bin/javac" ] || continue
        m=$(java_major "$c")
        if [ -n "$m" ] && [ "$m" -ge 21 ]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}
if ! JAVA_9=$(find_java_9); then
    # Debian 12 packages no JDK >= 21; newer Debian releases ship openjdk-21/25.
    for p in openjdk-25-jdk-headless openjdk-21-jdk-headless; do
        if apt-cache show "$p" >/dev/null 2>&1; then
            apt_install "$p" && break
        fi
    done
    JAVA_9=$(find_java_9) || die "no JDK >= 21 found for ES 9.x; set ES_SECURE_TEST_JAVA_9 to one (a full JDK: the shim is compiled with its javac)"
fi
log "Java for ES 8.x: $JAVA_8 ($(java_major "$JAVA_8")), for ES 9.x: $JAVA_9 ($(java_major "$JAVA_9"))"

# --- test user ---------------------------------------------------------------------------
if id "$TEST_USER" >/dev/null 2>&1; then
    log "user $TEST_USER exists"
else
    log "creating system user $TEST_USER"
    useradd --system --create-home --home-dir "/home/$TEST_USER" --shell /usr/sbin/nologin "$TEST_USER"
fi

if id "$KIBANA_TEST_USER" >/dev/null 2>&1; then
    log "user $KIBANA_TEST_USER exists"
else
    log "creating system user $KIBANA_TEST_USER (Kibana's service user in the tests)"
    useradd --system --create-home --home-dir "/home/$KIBANA_TEST_USER" --shell /usr/sbin/nologin "$KIBANA_TEST_USER"
fi

# --- zips, pristine copies, shim ----------------------------------------------------------
mkdir -p "$CACHE"
chmod 755 "$CACHE"
# Parallel CI jobs or helpers may run this at once: one preparer at a time.
exec 9>"$CACHE/.test-env.lock"
flock 9

SHIM_HASH=$(cat "$SHIM_DIR"/plugin-descriptor.properties.in "$SHIM_DIR"/src/org/essecure/testshim/*.java | sha256sum | cut -c1-16)

fetch_zip() { # version -> path of the zip
    local v=$1 zip="$CACHE/elasticsearch-$1.zip"
    if [ ! -s "$zip" ]; then
        log "downloading $ARTIFACT:$v:zip from Maven Central (~100-130 MB)"
        mvn -q -B dependency:copy -Dartifact="$ARTIFACT:$v:zip" -DoutputDirectory="$CACHE" >&2 ||
            die "maven could not fetch $ARTIFACT:$v:zip"
    fi
    unzip -tq "$zip" >/dev/null || die "$zip is corrupt; delete it and re-run"
    echo "$zip"
}

install_shim() { # pristine-dir es-version java-home java-release
    local home=$1 v=$2 jh=$3 rel=$4 build
    build=$(mktemp -d)
    log "compiling es-shim for ES $v (javac --release $rel, $jh)"
    "$jh/bin/javac" --release "$rel" -nowarn -cp "$home/lib/*" -d "$build/classes" \
        "$SHIM_DIR"/src/org/essecure/testshim/*.java >&2
    rm -rf "$home/plugins/es-shim"
    mkdir -p "$home/plugins/es-shim"
    "$jh/bin/jar" --create --file "$home/plugins/es-shim/es-shim.jar" -C "$build/classes" .
    sed -e "s/@ES_VERSION@/$v/g" -e "s/@JAVA_VERSION@/$rel/g" \
        "$SHIM_DIR/plugin-descriptor.properties.in" >"$home/plugins/es-shim/plugin-descriptor.properties"
    chmod -R a+rX "$home/plugins/es-shim"
    rm -rf "$build"
}

prepare() { # version java-home java-release -> pristine dir
    local v=$1 jh=$2 rel=$3 zip dir="$CACHE/pristine-$1" tmp marker
    marker="$dir/.es-secure-pristine"
    if [ -f "$marker" ] && [ "$(cat "$marker")" = "$v shim=$SHIM_HASH" ]; then
        log "pristine ES $v ready at $dir"
        echo "$dir"
        return 0
    fi
    zip=$(fetch_zip "$v")
    if [ ! -f "$dir/bin/elasticsearch" ] || [ ! -f "$dir/.unpacked" ]; then
        log "unpacking ES $v into $dir"
        tmp=$(mktemp -d "$CACHE/unpack.XXXXXX")
        unzip -q "$zip" -d "$tmp"
        rm -rf "$dir"
        mv "$tmp/elasticsearch-$v" "$dir"
        rm -rf "$tmp"
        touch "$dir/.unpacked"
    fi
    # Tests copy this tree per node as root and chown the copy; keep the original readable.
    chmod 755 "$dir"
    [ -n "$(ls "$dir"/lib/lucene-analysis-common-*.jar 2>/dev/null)" ] ||
        die "ES $v has no lib/lucene-analysis-common-*.jar; the shim cannot be built"
    install_shim "$dir" "$v" "$jh" "$rel"
    echo "$v shim=$SHIM_HASH" >"$marker"
    log "pristine ES $v ready at $dir (with plugins/es-shim)"
    echo "$dir"
}

# --- Kibana's stand-in: npm packages outside the repository -------------------------------
# Installed again only when tests/support/kibana-view/package.json changes; readable by the
# Kibana test user, who runs the stand-in.
KVIEW_SRC=$REPO_ROOT/tests/support/kibana-view
KVIEW=$CACHE/kibana-view
if cmp -s "$KVIEW_SRC/package.json" "$KVIEW/package.json" && [ -f "$KVIEW/.installed" ]; then
    log "kibana-view npm packages ready in $KVIEW"
else
    log "npm install (kibana-view: @elastic/elasticsearch, yaml) into $KVIEW"
    rm -rf "$KVIEW"
    mkdir -p "$KVIEW"
    cp "$KVIEW_SRC/package.json" "$KVIEW/"
    (cd "$KVIEW" && npm install --no-audit --no-fund --omit=dev --no-package-lock >&2) ||
        die "npm install for kibana-view failed"
    touch "$KVIEW/.installed"
fi
chmod -R a+rX "$KVIEW"

PRISTINE_8=$(prepare "$ES8_VERSION" "$JAVA_8" 17)
PRISTINE_9=$(prepare "$ES9_VERSION" "$JAVA_9" 21)
ZIP_8_OLD=$(fetch_zip "$ES8_OLD_VERSION")
PRISTINE_8_OLD=$(prepare "$ES8_OLD_VERSION" "$JAVA_8" 17)
for mv in $MATRIX_VERSIONS; do
    case "$mv" in
    8.*) prepare "$mv" "$JAVA_8" 17 >/dev/null ;;
    9.*) prepare "$mv" "$JAVA_9" 21 >/dev/null ;;
    *) die "ES_SECURE_TEST_MATRIX: '$mv' is not an 8.x or 9.x version" ;;
    esac
done

# --- systemd-nspawn images (tests/systemd_e2e.rs) -----------------------------------------
# Cold: ~1-2 min for the Debian base plus ~30 s per version; cached afterwards.
ES_SECURE_TEST_CACHE=$CACHE ES_SECURE_TEST_PRISTINE_8=$PRISTINE_8 ES_SECURE_TEST_JAVA_8=$JAVA_8 \
    ES_SECURE_TEST_VERSION_8=$ES8_VERSION "$REPO_ROOT/scripts/nspawn-image.sh" 8 >/dev/null
ES_SECURE_TEST_CACHE=$CACHE ES_SECURE_TEST_PRISTINE_9=$PRISTINE_9 ES_SECURE_TEST_JAVA_9=$JAVA_9 \
    ES_SECURE_TEST_VERSION_9=$ES9_VERSION "$REPO_ROOT/scripts/nspawn-image.sh" 9 >/dev/null

# --- output --------------------------------------------------------------------------------
emit() {
    cat <<EOF
export ES_SECURE_TEST_CACHE='$CACHE'
export ES_SECURE_TEST_ZIP_8='$CACHE/elasticsearch-$ES8_VERSION.zip'
export ES_SECURE_TEST_ZIP_9='$CACHE/elasticsearch-$ES9_VERSION.zip'
export ES_SECURE_TEST_ZIP_8_OLD='$ZIP_8_OLD'
export ES_SECURE_TEST_PRISTINE_8_OLD='$PRISTINE_8_OLD'
export ES_SECURE_TEST_VERSION_8_OLD='$ES8_OLD_VERSION'
export ES_SECURE_TEST_JAVA_8_OLD='$JAVA_8'
export ES_SECURE_TEST_PRISTINE_8='$PRISTINE_8'
export ES_SECURE_TEST_PRISTINE_9='$PRISTINE_9'
export ES_SECURE_TEST_VERSION_8='$ES8_VERSION'
export ES_SECURE_TEST_VERSION_9='$ES9_VERSION'
export ES_SECURE_TEST_JAVA_8='$JAVA_8'
export ES_SECURE_TEST_JAVA_9='$JAVA_9'
export ES_SECURE_TEST_USER='$TEST_USER'
export ES_SECURE_TEST_KIBANA_USER='$KIBANA_TEST_USER'
export ES_SECURE_TEST_KIBANA_VIEW_MODULES='$KVIEW/node_modules'
EOF
}
if [ -n "$OUT" ]; then
    emit >"$OUT"
    log "wrote $OUT (source it: . $OUT)"
else
    emit
fi
log "done"
