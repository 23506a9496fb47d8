#!/bin/sh
# Runs the benchmarks side by side: the DataScript peer (../shared/bench,
# npm datascript as pinned there) and cairn, one after the other on the same
# data, then writes the report (bench/report.js): a table on stdout,
# bench/results/latest.jsonl, BENCHMARKS.md and its charts.
#
#   sh bench/run.sh quick    make bench       N = 20000 (reads, both schemas), 100000
#   sh bench/run.sh full     make bench-full  N = 20000, 100000, 1000000, and
#                                             10M for cairn when memory and time allow
#
# Environment:
#   CAIRN_SHARED      the shared folder (default ../shared)
#   BENCH_SIZES       the N to run, e.g. "100000 1000000 10000000"; an N with
#                     no shipped data is generated (cairn_bench --generate, byte
#                     for byte what bench.js writes); an N with no queries-N.edn
#                     has no reference answers, so its queries are not timed
#   BENCH_NO_PEER=1   cairn only (no ratios)
#   BENCH_PEER_MAX_N  largest N the peer runs at (default 1000000: at 1M it
#                     needs ~14 GB of heap; 10M does not fit this machine)
#
# The machine has 2 cores: the peer and cairn never run at the same time, and
# every figure carries load1/cpu_util so the report can flag contamination.
#
# Micro-benchmarks: every other program build/rel/bench/<name> (from
# bench/<name>.c) is run too, with --quick in quick mode, and each stdout line
# that is a JSON object is folded into the report; stderr is shown as is.
set -eu

mode=${1:-quick}
case "$mode" in quick|full) ;; *) echo "usage: bench/run.sh quick|full" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
shared=${CAIRN_SHARED:-../shared}/bench
data=$shared/data
bin=build/rel/bench/cairn_bench
work=build/bench                 # generated data, stores, raw results
raw=$work/raw
peerdir=build/peer
peer_max=${BENCH_PEER_MAX_N:-1000000}

[ -x "$bin" ] || { echo "run.sh: $bin is not built (make bench builds it)" >&2; exit 1; }
[ -f "$data/schema.edn" ] || { echo "run.sh: no data set at $data" >&2; exit 1; }
rm -rf "$raw" "$work/stores"
mkdir -p "$raw" "$work/data" "$work/stores"
: > "$raw/notes.txt"

if [ "$mode" = quick ]; then
    sizes=${BENCH_SIZES:-"20000 100000"}
    peer_t="--runs 1 --samples 3 --warmup-ms 200 --sample-ms 200"
    cairn_t="--runs 1 --samples 3 --warmup-ms 200 --sample-ms 200 --tx-seconds 3 --cold-runs 5"
else
    sizes=${BENCH_SIZES:-"20000 100000 1000000"}
    peer_t="--runs 3"
    cairn_t="--runs 3 --tx-seconds 10 --cold-runs 9"
fi

# --- the peer: npm ci of the pinned package into build/peer ----------------------
if [ "${BENCH_NO_PEER:-0}" != 1 ]; then
    mkdir -p "$peerdir"
    if ! cmp -s "$shared/package-lock.json" "$peerdir/package-lock.json" ||
       [ ! -d "$peerdir/node_modules/datascript" ]; then
        echo "== installing the peer (npm ci of $shared/package.json into $peerdir)" >&2
        cp "$shared/package.json" "$shared/package-lock.json" "$peerdir/"
        (cd "$peerdir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
    cp "$shared/bench.js" "$peerdir/bench.js"
fi

# The people file for N: shipped, or generated (what bench.js writes, byte for
# byte: tests/bench checks it). A generated file must have the datom count of
# queries-N.edn, whose answers are computed from it. The shipped manifest's
# hash is compared too, but only noted when it differs: MANIFEST-1000000.txt
# names a file that today's bench.js does not write (same datoms, same
# answers; bench.js and cairn_bench --generate agree with each other).
people_file() {
    n=$1
    if [ -f "$data/people-$n.edn" ]; then echo "$data/people-$n.edn"; return; fi
    f=$work/data/people-$n.edn
    if [ ! -f "$f" ]; then
        echo "== generating people-$n.edn" >&2
        "$bin" --generate "$n" "$f" >&2
    fi
    q=$data/queries-$n.edn
    if [ -f "$q" ]; then
        want=$(sed -n 's/^{:n [0-9]* :datoms \([0-9]*\).*/\1/p' "$q")
        got=$(sed -n '1s/.* datoms=\([0-9]*\)$/\1/p' "$f")
        [ "$want" = "$got" ] || { echo "run.sh: $f has $got datoms, $q says $want" >&2; rm -f "$f"; exit 1; }
    fi
    m=$data/MANIFEST-$n.txt
    if [ -f "$m" ] && grep -q " people-$n.edn\$" "$m"; then
        want=$(grep " people-$n.edn\$" "$m" | cut -d' ' -f1)
        got=$(sha256sum "$f" | cut -d' ' -f1)
        [ "$want" = "$got" ] || echo "people-$n.edn (generated) has SHA-256 $got; $m lists $want." \
            "Its datom count matches queries-$n.edn." >> "$raw/notes.txt"
    fi
    echo "$f"
}

run_n() {
    n=$1
    people=$(people_file "$n")
    queries=""
    [ -f "$data/queries-$n.edn" ] && queries="--queries $data/queries-$n.edn --graphs $data/graphs"
    reads_only=0
    [ "$mode" = quick ] && [ "$n" -lt 100000 ] && reads_only=1

    if [ "${BENCH_NO_PEER:-0}" != 1 ] && [ "$n" -le "$peer_max" ]; then
        echo "== peer (DataScript), N=$n" >&2
        popts="$peer_t --tx-count 20000"
        [ "$reads_only" = 1 ] && popts="$popts --skip write,serialize"
        node_opts="--expose-gc"
        if [ "$n" -ge 1000000 ]; then
            node_opts="$node_opts --max-old-space-size=14000"
            popts="--runs 1 --samples 3 --warmup-ms 0 --sample-ms 0 --max-first-ms 3000"
        fi
        # shellcheck disable=SC2086
        node $node_opts "$peerdir/bench.js" "$n" --no-write-data --results-dir "$work/peer-results" $popts \
            > "$raw/peer-N$n.jsonl" || echo "run.sh: the peer failed at N=$n" >&2
    fi

    echo "== cairn, N=$n, the peer's schema (schema-on-read)" >&2
    # from 1M on, the peer's settings there: one bulk-load run, 3 samples, no warm-up
    nopts=""
    [ "$n" -ge 1000000 ] && nopts="--runs 1 --samples 3 --warmup-ms 0 --sample-ms 0 --max-first-ms 3000"
    copts="$cairn_t $nopts"
    [ "$reads_only" = 1 ] && copts="$copts --skip write,open,size"
    # one transaction of all N entities needs ~9 KB of memory per entity
    [ "$n" -gt 1000000 ] && copts="$copts --skip load-one-tx,size-one-commit"
    # shellcheck disable=SC2086
    "$bin" --people "$people" $queries --schema "$data/schema.edn" --dir "$work/stores" $copts \
        --out "$raw/cairn-N$n.jsonl" > /dev/null || echo "run.sh: cairn failed at N=$n" >&2
    rm -rf "$work/stores"; mkdir -p "$work/stores"

    # the typed variant: reads and the bulk load (quick mode: only at the small N, to stay quick)
    if [ "$mode" = full ] || [ "$reads_only" = 1 ]; then
        echo "== cairn, N=$n, typed schema (schema-on-write)" >&2
        # shellcheck disable=SC2086
        "$bin" --typed --people "$people" $queries --schema "$data/schema.edn" --dir "$work/stores" \
            $cairn_t $nopts --skip write,open --out "$raw/cairn-typed-N$n.jsonl" > /dev/null ||
            echo "run.sh: cairn (typed) failed at N=$n" >&2
        rm -rf "$work/stores"; mkdir -p "$work/stores"
    fi
}

for n in $sizes; do run_n "$n"; done

# 10M, cairn only (the peer cannot hold it), in a full run when memory allows
# and the 1M bulk load rate says loading 90M datoms ends within
# BENCH_MAX_LOAD_MIN minutes (default 30).
if [ "$mode" = full ] && [ -z "${BENCH_SIZES:-}" ]; then
    rate=$(sed -n 's/.*"bench":"bulk-load-1000".*"datoms_per_s":\([0-9]*\).*/\1/p' \
        "$raw/cairn-N1000000.jsonl" 2>/dev/null | head -n 1)
    avail_gb=$(awk '/^MemAvailable:/ { print int($2 / 1048576) }' /proc/meminfo)
    max_min=${BENCH_MAX_LOAD_MIN:-30}
    if [ -z "$rate" ] || [ "$rate" -eq 0 ]; then
        echo "N=10M not run: no bulk-load rate was measured at 1M." >> "$raw/notes.txt"
    elif [ $((90000000 / rate / 60)) -gt "$max_min" ]; then
        echo "N=10M not run: at the 1M bulk-load rate ($rate datoms/s) loading 90M datoms would take" \
             "about $((90000000 / rate / 60)) minutes (limit BENCH_MAX_LOAD_MIN=$max_min)." >> "$raw/notes.txt"
    elif [ "$avail_gb" -lt 8 ]; then
        echo "N=10M not run: $avail_gb GB of memory available, 8 GB wanted." >> "$raw/notes.txt"
    else
        run_n 10000000
    fi
fi

# --- micro-benchmarks of other layers ------------------------------------------------
for prog in build/rel/bench/*; do
    name=$(basename "$prog")
    [ "$name" = cairn_bench ] && continue
    [ -x "$prog" ] || continue
    echo "== micro-benchmark $name" >&2
    if [ "$mode" = quick ]; then "$prog" --quick; else "$prog"; fi > "$raw/micro-$name.txt" ||
        echo "run.sh: $name failed" >&2
    grep '^{' "$raw/micro-$name.txt" > "$raw/micro-$name.jsonl" || true
done

node bench/report.js --mode "$mode" --raw "$raw" --results bench/results --md BENCHMARKS.md
