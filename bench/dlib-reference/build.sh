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
# The shape predictor is a header-only template, so it is compiled here: dlib_reference with -O2 (as Debian builds
# dlib), dlib_reference_native with -O3 -march=native (dlib's best case on this CPU; .NET's JIT also uses AVX2).
g++ -O2 -std=c++17 -DDLIB_DISABLE_ASSERTS -o "$out/dlib_reference" "$here/dlib_reference.cpp" \
  $(pkg-config --libs dlib-1)
echo "built $out/dlib_reference"
if [ "${NATIVE:-1}" = "1" ]; then
  g++ -O3 -march=native -std=c++17 -DDLIB_DISABLE_ASSERTS -o "$out/dlib_reference_native" "$here/dlib_reference.cpp" \
    $(pkg-config --libs dlib-1)
  echo "built $out/dlib_reference_native"
fi
