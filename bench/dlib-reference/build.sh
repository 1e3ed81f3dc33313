#!/usr/bin/env bash
# Builds the dlib C++ reference program against Debian's libdlib-dev (headers + static libdlib.a).
# Benchmark tool only: GestaltLab itself never needs dlib. Usage: bench/dlib-reference/build.sh [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build}"
mkdir -p "$out"
if [ ! -f /usr/include/dlib/image_processing/shape_predictor.h ]; then
  echo "libdlib-dev is not installed: sudo apt-get install libdlib-dev" >&2; exit 1
fi
# -O2 as Debian builds dlib itself; -march is left at the default so the comparison is like-for-like with .NET's JIT on x86-64.
g++ -O2 -std=c++17 -DDLIB_DISABLE_ASSERTS -o "$out/dlib_reference" "$here/dlib_reference.cpp" \
  $(pkg-config --libs dlib-1)
echo "built $out/dlib_reference"
