#!/usr/bin/env bash
# Compare es-secure's certificate generation with Elastic's `elasticsearch-certutil` and with
# the `openssl` command line, pair by pair, and print a markdown table (median wall time of
# RUNS runs, ratio against es-secure, peak memory from /usr/bin/time).
#
# Equal work for every tool: one CA, then for each of N nodes a transport and an HTTP
# certificate (2N leaves), each with 2 DNS and 2 IP SANs, written as PEM files.
#   es-secure : target/release/examples/gen_certs N KEY DIR  (one process, both cores)
#   certutil  : `certutil ca --pem` + `certutil cert --pem --ca-cert --ca-key --in instances.yml`
#               with 2N instances. certutil only makes RSA (default 2048), so the same certutil
#               run is the baseline for both es-secure key types.
#   openssl   : `openssl req -x509 -CA … -newkey …` per leaf, nproc leaves in parallel (xargs -P).
#
# Environment knobs (defaults in brackets):
#   NS ["1 10 100 1000"]     node counts for es-secure ECDSA and for certutil
#   RSA_NS [same as NS]      node counts for the RSA-2048 rows
#   RUNS [3]                 runs per measurement (median reported)
#   SLOW_MAX_N [1000]        certutil/openssl skip node counts above this (they are slow)
#   SLOW_RUNS [RUNS]         runs for certutil/openssl
#   CACHE [$HOME/.cache/es-secure-test]  where the ES integ-test-zip is downloaded/unpacked
#   ES_VERSION [8.19.21]     ES_JAVA_HOME [/usr/lib/jvm/java-17-openjdk-amd64]
# Nothing is written inside the repository except cargo's target/.
set -euo pipefail

NS=${NS:-"1 10 100 1000"}
RSA_NS=${RSA_NS:-$NS}
RUNS=${RUNS:-3}
SLOW_MAX_N=${SLOW_MAX_N:-1000}
SLOW_RUNS=${SLOW_RUNS:-$RUNS}
CACHE=${CACHE:-$HOME/.cache/es-secure-test}
ES_VERSION=${ES_VERSION:-8.19.21}
export ES_JAVA_HOME=${ES_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
CORES=$(nproc)

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/es-secure-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

log() { echo "[bench] $*" >&2; }

# --- prerequisites ---------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    log "installing GNU time (Debian package 'time') for peak-memory numbers"
    apt-get install -y -q time >/dev/null
fi
command -v openssl >/dev/null || { log "openssl is required (apt install openssl)"; exit 1; }
[ -x "$ES_JAVA_HOME/bin/java" ] || { log "no JDK at ES_JAVA_HOME=$ES_JAVA_HOME (ES 8 needs Java 17)"; exit 1; }

es_home="$CACHE/certs-bench/elasticsearch-$ES_VERSION"
if [ ! -x "$es_home/bin/elasticsearch-certutil" ]; then
    zip="$CACHE/elasticsearch-$ES_VERSION.zip"
    mkdir -p "$CACHE/certs-bench"
    if [ ! -f "$zip" ]; then
        log "downloading the ES $ES_VERSION integ-test-zip with mvn into $CACHE"
        mvn -q dependency:copy \
            -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
            -DoutputDirectory="$CACHE"
    fi
    (cd "$CACHE/certs-bench" && unzip -q -o "$zip")
fi
certutil="$es_home/bin/elasticsearch-certutil"
[ -x "$certutil" ] || { log "no $certutil in the zip"; exit 1; }


# --- measurement helpers ---------------------------------------------------------------
# measure OUTFILE CMD... : append "seconds maxrss_kb" of one run to OUTFILE; fail loudly.
measure() {
    local out=$1; shift
    local t="$work/time.$$" start end
    # Wall time from the nanosecond clock (GNU time's %e has only 10 ms resolution); peak
    # memory (max RSS, KiB) from GNU time.
    start=$(date +%s.%N)
    if ! /usr/bin/time -f "%M" -o "$t" "$@" >"$work/last.log" 2>&1; then
        log "command failed: $*"; cat "$work/last.log" >&2; exit 1
    fi
    end=$(date +%s.%N)
    echo "$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.4f", b-a}') $(tail -1 "$t")" >>"$out"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "-"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}}'; }
med_time() { awk '{print $1}' "$1" | median; }
peak_mb() { awk 'BEGIN{m=0} {if ($2>m) m=$2} END {printf "%.0f", m/1024}' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="-" || b=="-" || b==0) print "-"; else if (a/b < 10) printf "%.1f×", a/b; else printf "%.0f×", a/b }'; }

instances_yml() { # N FILE
    local n=$1 f=$2 i
    echo "instances:" >"$f"
    for ((i = 1; i <= n; i++)); do
        for p in transport http; do
            printf '  - name: node-%d-%s\n    dns: [node-%d.es.example.internal, localhost]\n    ip: [10.0.%d.%d, 127.0.0.1]\n' \
                "$i" "$p" "$i" $(((i >> 8) & 255)) $((i & 255)) >>"$f"
        done
    done
}

# certutil: CA then all leaves; time and peak memory summed/maxed over the two JVMs.
run_certutil() { # N RESULTFILE
    local n=$1 res=$2 d="$work/certutil-$1"
    rm -rf "$d"; mkdir -p "$d"
    instances_yml "$n" "$d/instances.yml"
    local t1="$d/t1" t2="$d/t2"
    : >"$t1"; : >"$t2"
    measure "$t1" "$certutil" ca --pem --silent --out "$d/ca.zip"
    (cd "$d" && unzip -q -o ca.zip)
    measure "$t2" "$certutil" cert --pem --silent --ca-cert "$d/ca/ca.crt" --ca-key "$d/ca/ca.key" \
        --in "$d/instances.yml" --out "$d/bundle.zip"
    local leaves
    leaves=$(unzip -l "$d/bundle.zip" | grep -c '\.crt$')
    [ "$leaves" -eq $((2 * n)) ] || { log "certutil made $leaves certs, expected $((2 * n))"; exit 1; }
    paste "$t1" "$t2" | awk '{printf "%.4f %d\n", $1+$3, ($2>$4?$2:$4)}' >>"$res"
    rm -rf "$d"
}

# openssl: one `req -x509 -CA` process per leaf, CORES in parallel.
cat >"$work/ossl_node.sh" <<'EOF'
#!/usr/bin/env bash
# ossl_node.sh KEY DIR I : transport + http cert for node I, signed by DIR/ca.crt
set -euo pipefail
key=$1 dir=$2 i=$3
case "$key" in
  ecdsa-p256) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); ku=digitalSignature ;;
  rsa-2048) newkey=(-newkey rsa:2048); ku=digitalSignature,keyEncipherment ;;
esac
mkdir -p "$dir/node-$i"
for p in transport http; do
  openssl req -x509 -new "${newkey[@]}" -nodes -days 1095 -subj "/CN=node-$i" \
    -CA "$dir/ca/ca.crt" -CAkey "$dir/ca/ca.key" \
    -keyout "$dir/node-$i/$p.key" -out "$dir/node-$i/$p.crt" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,$ku" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" \
    -addext "subjectAltName=DNS:node-$i.es.example.internal,DNS:localhost,IP:10.0.$(((i >> 8) & 255)).$((i & 255)),IP:127.0.0.1" \
    2>/dev/null
done
EOF
cat >"$work/ossl_all.sh" <<'EOF'
#!/usr/bin/env bash
# ossl_all.sh KEY DIR N CORES
set -euo pipefail
key=$1 dir=$2 n=$3 cores=$4 here=$(dirname "$0")
case "$key" in
  ecdsa-p256) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
  rsa-2048) newkey=(-newkey rsa:2048) ;;
esac
mkdir -p "$dir/ca"
openssl req -x509 -new "${newkey[@]}" -nodes -days 1095 -subj "/CN=openssl bench CA" \
  -keyout "$dir/ca/ca.key" -out "$dir/ca/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
seq 1 "$n" | xargs -P "$cores" -I{} bash "$here/ossl_node.sh" "$key" "$dir" {}
EOF

run_openssl() { # KEY N RESULTFILE
    local key=$1 n=$2 res=$3 d="$work/openssl-$1-$2"
    rm -rf "$d"
    measure "$res" bash "$work/ossl_all.sh" "$key" "$d" "$n" "$CORES"
    local leaves
    leaves=$(find "$d" -name '*.crt' | wc -l)
    [ "$leaves" -eq $((2 * n + 1)) ] || { log "openssl made $leaves certs, expected $((2 * n + 1))"; exit 1; }
    rm -rf "$d"
}

run_es_secure() { # KEY N RESULTFILE
    local key=$1 n=$2 res=$3 d="$work/es-secure-$1-$2"
    rm -rf "$d"
    measure "$res" "$gen" "$n" "$key" "$d"
    local leaves
    leaves=$(find "$d" -name '*.crt' | wc -l)
    [ "$leaves" -eq $((2 * n + 1)) ] || { log "gen_certs made $leaves certs, expected $((2 * n + 1))"; exit 1; }
    rm -rf "$d"
}

# --- runs --------------------------------------------------------------------------------
all_ns=$(printf '%s\n' $NS $RSA_NS | sort -nu)
for n in $all_ns; do
    if [ "$n" -le "$SLOW_MAX_N" ]; then
        : >"$work/certutil-$n.txt"
        for ((r = 1; r <= SLOW_RUNS; r++)); do
            log "certutil N=$n run $r/$SLOW_RUNS"
            run_certutil "$n" "$work/certutil-$n.txt"
        done
    fi
done
# Built after the certutil runs so a cold release build overlaps nothing that is timed.
log "building examples/gen_certs (release)"
(cd "$repo" && cargo build -q --release --example gen_certs)
gen="$repo/target/release/examples/gen_certs"
for key in ecdsa-p256 rsa-2048; do
    ns=$NS; [ "$key" = rsa-2048 ] && ns=$RSA_NS
    for n in $ns; do
        : >"$work/es-$key-$n.txt"; : >"$work/ossl-$key-$n.txt"
        for ((r = 1; r <= RUNS; r++)); do
            log "es-secure $key N=$n run $r/$RUNS"
            run_es_secure "$key" "$n" "$work/es-$key-$n.txt"
        done
        if [ "$n" -le "$SLOW_MAX_N" ]; then
            for ((r = 1; r <= SLOW_RUNS; r++)); do
                log "openssl $key N=$n run $r/$SLOW_RUNS"
                run_openssl "$key" "$n" "$work/ossl-$key-$n.txt"
            done
        fi
    done
done

# --- table -------------------------------------------------------------------------------
echo
echo "Machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Work per row: 1 CA + 2N leaf certs (transport + HTTP per node), PEM files. Median of $RUNS runs (certutil/openssl: $SLOW_RUNS); peak = max RSS of the largest process."
echo "certutil $ES_VERSION (Java $("$ES_JAVA_HOME/bin/java" -version 2>&1 | head -1 | cut -d'"' -f2)) always makes RSA-2048; $(openssl version | cut -d' ' -f1-2) uses $CORES parallel processes."
echo
echo "| N nodes | keys | es-secure s | es-secure peak MB | certutil s | certutil peak MB | certutil ÷ es-secure | openssl s | openssl peak MB | openssl ÷ es-secure |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for key in ecdsa-p256 rsa-2048; do
    ns=$NS; [ "$key" = rsa-2048 ] && ns=$RSA_NS
    for n in $ns; do
        es=$(med_time "$work/es-$key-$n.txt"); es_mb=$(peak_mb "$work/es-$key-$n.txt")
        cu="-"; cu_mb="-"; os="-"; os_mb="-"
        if [ -s "$work/certutil-$n.txt" ]; then cu=$(med_time "$work/certutil-$n.txt"); cu_mb=$(peak_mb "$work/certutil-$n.txt"); fi
        if [ -s "$work/ossl-$key-$n.txt" ]; then os=$(med_time "$work/ossl-$key-$n.txt"); os_mb=$(peak_mb "$work/ossl-$key-$n.txt"); fi
        echo "| $n | $key | $es | $es_mb | $cu | $cu_mb | $(ratio "$cu" "$es") | $os | $os_mb | $(ratio "$os" "$es") |"
    done
done
