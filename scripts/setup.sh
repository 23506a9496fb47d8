#!/bin/sh
# Installs the Debian packages a cairn job needs, once.
#
#   scripts/setup.sh [build|test|fuzz|bench]   (default: build)
#
# Checks each package with dpkg-query; when some are missing it installs them
# with apt-get if it runs as root, and otherwise prints the exact command to run
# and exits 1. Nothing else on the machine is touched.
set -eu

job=${1:-build}

pkgs="gcc make pkg-config libc6-dev liblmdb-dev libsqlite3-dev libssl-dev libzstd-dev libedit-dev"
case "$job" in
    build|run) ;;
    test)  pkgs="$pkgs clang libclang-rt-14-dev procps groff-base" ;;
    fuzz)  pkgs="$pkgs clang libclang-rt-14-dev" ;;
    bench) pkgs="$pkgs nodejs gnuplot-nox procps"
           # nodesource's nodejs ships npm itself and conflicts with Debian's npm
           command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm" ;;
    *) echo "setup.sh: unknown job '$job' (build, run, test, fuzz, bench)" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    echo "setup.sh: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq --no-install-recommends $missing >&2
else
    echo "setup.sh: missing Debian packages:$missing" >&2
    echo "run:  sudo apt-get install -y$missing" >&2
    exit 1
fi
