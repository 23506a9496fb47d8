#!/bin/sh
# make fuzz: runs each libFuzzer target for SECONDS under ASan+UBSan, starting
# from the committed corpus (fuzz/corpus/<target>) and a scratch corpus in
# fuzz/corpus-work/<target> (not committed). New crashes are written to
# fuzz/corpus-work/<target>/crash-*; minimize and copy them into
# fuzz/corpus/<target> so `make test` replays them forever.
set -u
secs=$1
shift
status=0
for t in "$@"; do
    work=fuzz/corpus-work/$t
    mkdir -p "$work" "fuzz/corpus/$t"
    echo "== fuzz $t for ${secs}s"
    dict=""
    [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
    if ! build/fuzz/fuzz_$t -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 -artifact_prefix="$work/" $dict "$work" "fuzz/corpus/$t" 2>&1 \
            | grep -E '^(#[0-9]+.*DONE|stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)'; then
        :
    fi
    if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
        echo "fuzz $t: FINDINGS in $work"
        status=1
    fi
done
exit $status
