#!/usr/bin/env bash
# The compatibility matrix (issue 22): tests/matrix_real_es.rs on every Elasticsearch version
# below, two versions (two nodes) at a time, then the README's matrix table is rewritten from
# the results (version → result, date, wall time). Not part of scripts/test.sh, which runs the
# same scenario on the pinned 8.19.x, 9.x and 8.13.4 only.
#
#   scripts/test-matrix.sh                          # the whole matrix, README updated
#   ES_SECURE_MATRIX_VERSIONS="8.0.0 9.5.4" scripts/test-matrix.sh   # a subset (README too)
#   ES_SECURE_MATRIX_README=0 scripts/test-matrix.sh                 # leave README alone
#
# Needs what scripts/test.sh needs (root, Maven Central for the zips it has not cached yet).
# Logs: target/matrix/<version>.log. Exit status: 0 only when every version passed.
set -euo pipefail
cd "$(dirname "$0")/.."

# 8.0.0: the oldest 8.x; 8.13.4: last keystore format 5; 8.17.10: format 6; 8.19.21 and 9.5.4:
# format 7 (the versions scripts/test-env.sh pins). All served by Maven Central's integ-test-zip.
VERSIONS=${ES_SECURE_MATRIX_VERSIONS:-8.0.0 8.13.4 8.17.10 8.19.21 9.5.4}
JOBS=${ES_SECURE_MATRIX_JOBS:-2}
LOGS=target/matrix
mkdir -p "$LOGS"

env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
ES_SECURE_TEST_MATRIX="$VERSIONS" scripts/test-env.sh "$env_file"
# shellcheck disable=SC1090
source "$env_file"

echo "==> building tests/matrix_real_es.rs" >&2
# Built once, then the test binary itself runs per version: a `cargo test` per version would
# rebuild mid-matrix if a source file changed meanwhile.
build_log=$LOGS/build.log
cargo test --locked --test matrix_real_es --no-run 2>&1 | tee "$build_log" >&2
bin=$(sed -n 's/.*Executable tests\/matrix_real_es.rs (\(.*\))$/\1/p' "$build_log" | tail -n 1)
[ -x "$bin" ] || {
    echo "could not find the matrix_real_es test binary in $build_log" >&2
    exit 1
}

run_one() { # version: runs one node's scenario, writes $LOGS/<version>.result
    local v=$1 major test t0 rc secs result
    major=${v%%.*}
    test=matrix_$major
    t0=$(date +%s)
    rc=0
    env "ES_SECURE_TEST_VERSION_$major=$v" \
        "ES_SECURE_TEST_PRISTINE_$major=$ES_SECURE_TEST_CACHE/pristine-$v" \
        ES_SECURE_TEST_REQUIRE=1 \
        timeout 2400 "$bin" --exact "$test" --nocapture --test-threads=1 \
        >"$LOGS/$v.log" 2>&1 || rc=$?
    secs=$(($(date +%s) - t0))
    # Passed only when the scenario says so: a skipped or filtered-out test proves nothing.
    if [ "$rc" -eq 0 ] && grep -q "MATRIX ES $v: passed" "$LOGS/$v.log"; then
        result=passed
    else
        result="FAILED (exit $rc, $LOGS/$v.log)"
    fi
    printf '%s\t%s\t%s\t%s\n' "$v" "$result" "$(date -u +%F)" "$secs" >"$LOGS/$v.result"
    echo "==> ES $v: $result in ${secs}s" >&2
}

rm -f "$LOGS"/*.result
started=$(date +%s)
for v in $VERSIONS; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n || true
    done
    echo "==> ES $v: started" >&2
    run_one "$v" &
done
wait
total=$(($(date +%s) - started))

table=$(mktemp)
trap 'rm -f "$env_file" "$table"' EXIT
{
    echo "| Elasticsearch | result | date (UTC) | wall time |"
    echo "|---|---|---|---|"
    for v in $VERSIONS; do
        if [ -f "$LOGS/$v.result" ]; then
            IFS=$'\t' read -r rv result day secs <"$LOGS/$v.result"
            printf '| %s | %s | %s | %d min %02d s |\n' "$rv" "$result" "$day" $((secs / 60)) $((secs % 60))
        else
            printf '| %s | not run | | |\n' "$v"
        fi
    done
    echo
    echo "Whole matrix: $((total / 60)) min $((total % 60)) s, $JOBS versions at a time (\`scripts/test-matrix.sh\`)."
} >"$table"
cat "$table"

if [ "${ES_SECURE_MATRIX_README:-1}" = 1 ]; then
    # Replace what lies between the two markers; everything else in README.md is kept.
    awk -v table="$table" '
        /<!-- matrix:begin -->/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
        /<!-- matrix:end -->/ { skip = 0 }
        !skip { print }
    ' README.md >README.md.new
    grep -q '<!-- matrix:end -->' README.md.new || {
        rm -f README.md.new
        echo "README.md has no <!-- matrix:begin --> / <!-- matrix:end --> markers" >&2
        exit 1
    }
    mv README.md.new README.md
    echo "==> README.md matrix table updated" >&2
fi

! grep -q FAILED "$LOGS"/*.result
