#!/bin/sh
# Runs every test stage of `make test` and prints one closing line with the
# totals. Stages: unit tests (release build), the same under ASan+UBSan, the
# threaded tests under TSan, and the fuzz corpus replayed under ASan+UBSan.
# Every stage runs even when an earlier one failed, so one run shows all.
set -u
cd "$(dirname "$0")/.."

total_pass=0
total_fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

stage() {
    name=$1
    shift
    echo "== $name"
    "$@" 2>&1 | tee "$log" | grep -v '^pass ' || true
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: no result line (crashed?)"
        total_fail=$((total_fail + 1))
        return
    fi
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
}

stage "unit tests (release)" build/rel/cairn-tests
stage "unit tests (ASan+UBSan)" build/asan/cairn-tests
stage "threaded tests (TSan)" build/tsan/cairn-tests concurrent db_writer db_gc__commits db_api__big index_commit__leaves index_commit__out_of_memory_anywhere
stage "fuzz corpus replay (ASan+UBSan)" sh scripts/fuzz_replay.sh build/asan/fuzz-replay

# The conformance corpus lives beside the repository (../shared), or where
# CAIRN_SHARED points. A missing corpus is a failure, never a skip.
shared=${CAIRN_SHARED:-../shared}
stage "conformance corpus (ASan+UBSan)" build/asan/conformance -k tests/conformance/known-failures.txt \
    "$shared/conformance"

echo "== all stages"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
