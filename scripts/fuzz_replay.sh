#!/bin/sh
# Replays the committed fuzz corpus (fuzz/corpus/<target>/*) through each
# target's replay build in DIR; prints "N passed, N failed" (one per target).
set -u
dir=$1
pass=0
fail=0
for bin in "$dir"/*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus=fuzz/corpus/$name
    if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
        echo "fuzz replay $name: no corpus in $corpus"
        fail=$((fail + 1))
        continue
    fi
    if "$bin" "$corpus"; then
        pass=$((pass + 1))
    else
        echo "fuzz replay $name: FAILED"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
