#!/bin/sh
# make run: builds (the Makefile did), creates the demo database in ./demo
# from cli/demo/*.edn (one transaction per file, with their own dates), and
# opens `cairn shell` on it with three example queries to try. When standard
# input is not a terminal (CI, a pipe) it runs the examples and exits 0.
set -eu
cd "$(dirname "$0")/.."
bin=build/rel/cairn
db=demo

# ./demo is ours to replace only if it is a cairn store (or absent)
if [ -e "$db" ] && [ ! -f "$db/version" ]; then
    echo "run.sh: ./$db exists and is not a cairn store; move it away first" >&2
    exit 1
fi
rm -rf "$db"
$bin create "$db" >/dev/null
for tx in cli/demo/0*.edn; do
    $bin transact "$db" "@$tx" >/dev/null
done
$bin --table log "$db" --limit 3
echo
echo "The demo database is in ./$db: people, who reports to whom, and projects, from"
echo "2021 to 2024 (cli/demo/*.edn). Try these in the shell (copy and paste them):"
echo
grep -v '^;;' cli/demo/examples.cairn
echo
echo "More: 'history 3', 'log', 'datoms :avet :project/budget', '.format table', '.help'."
echo "Every command also runs from the command line: $bin help"
echo

if [ -t 0 ]; then
    exec $bin shell --table "$db"
fi
$bin shell --echo --table "$db" < cli/demo/examples.cairn
exit 0
