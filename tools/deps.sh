#!/bin/sh
# tools/deps.sh: install what ssl-tools needs on Debian 12 (run as root, or
# as a user with sudo). Without arguments: the build and the demo. With
# --test: also what the test suite, sanitizer, valgrind and fuzz runs and
# the PyTorch comparisons need, Open MPI among them (make then builds
# ssl-train with MPI and tests/cli/mpi.sh runs 2 ranks). Installs only
# packages that are missing.
set -e
pkgs="build-essential pkg-config libopenblas-dev libopenblas0-pthread libarchive-dev
      libmsgpack-dev libzstd-dev libpng-dev libjpeg-dev groff-base
      dataset-fashion-mnist gnuplot-nox"
if [ "${1:-}" = "--test" ]; then
    pkgs="$pkgs valgrind clang python3 python3-numpy python3-msgpack python3-zstandard
          python3-torch python3-torchvision zstd openmpi-bin libopenmpi-dev"
fi
missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "deps.sh: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
