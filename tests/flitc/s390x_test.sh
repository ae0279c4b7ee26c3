#!/bin/sh
# Heterogeneity test: the wire runtime and generated code on big-endian s390x.
#
#   tests/flitc/s390x_test.sh FLITC HOST_CROSS_VECTORS
#
# FLITC is the flitc binary, HOST_CROSS_VECTORS the host build of
# cross_vectors.cc (meson passes both). Cross-compiles cross_vectors.cc with
# s390x-linux-gnu-g++ (static), runs it under qemu-s390x, and checks:
#   1. s390x encodes the canonical messages to the x86-64 bytes in
#      vectors_data.h and decodes those bytes to the canonical values;
#   2. bytes written on s390x decode identically on this host;
#   3. bytes written on this host decode identically on s390x;
#   4. the GoogleTest marshaling suites pass on s390x.
# Exits 77 (skipped) with the reason if the cross compiler or qemu is missing:
#   apt-get install g++-s390x-linux-gnu qemu-user googletest
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 FLITC HOST_CROSS_VECTORS" >&2
  exit 2
fi
flitc=$1
host_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cxx=${S390X_CXX:-s390x-linux-gnu-g++}

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "SKIP: $cxx not found (apt-get install g++-s390x-linux-gnu)"
  exit 77
fi
qemu=${QEMU_S390X:-}
if [ -z "$qemu" ]; then
  for q in qemu-s390x qemu-s390x-static; do
    if command -v "$q" >/dev/null 2>&1; then qemu=$q; break; fi
  done
fi
if [ -z "$qemu" ]; then
  echo "SKIP: qemu-s390x not found (apt-get install qemu-user)"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/gen" "$tmp/from_s390x" "$tmp/from_host"

for f in all_types common evolution_v1 evolution_v2 odd_names hostile; do
  "$flitc" -o "$tmp/gen" "$here/$f.flit"
done

echo "compiling cross_vectors for s390x with $cxx"
"$cxx" -std=c++20 -O2 -Wall -Wextra -Werror -static \
  -I"$root/include" -I"$tmp/gen" -I"$here" \
  "$here/cross_vectors.cc" -o "$tmp/cross_vectors.s390x"

# Make sure this really is a big-endian s390x binary.
if command -v readelf >/dev/null 2>&1; then
  readelf -h "$tmp/cross_vectors.s390x" | grep -q "big endian" || {
    echo "FAIL: the cross-compiled binary is not big-endian" >&2
    exit 1
  }
  readelf -h "$tmp/cross_vectors.s390x" | grep -q "S/390" || {
    echo "FAIL: the cross-compiled binary is not s390x" >&2
    exit 1
  }
fi

run_s390x() { "$qemu" "$tmp/cross_vectors.s390x" "$@"; }

run_s390x check
run_s390x write "$tmp/from_s390x"
"$host_bin" read "$tmp/from_s390x"
"$host_bin" write "$tmp/from_host"
run_s390x read "$tmp/from_host"
echo "s390x: all vectors agree in both directions"

# The GoogleTest suites of the marshaling runtime (round trips, validation,
# evolution, no allocation), built from the googletest sources Debian ships
# with libgtest-dev, run big-endian too.
gtest_src=${GTEST_SRC:-/usr/src/googletest/googletest}
if [ ! -f "$gtest_src/src/gtest-all.cc" ]; then
  echo "SKIP: $gtest_src/src/gtest-all.cc not found (apt-get install googletest);" \
    "only the vectors ran on s390x"
  exit 77
fi
echo "compiling googletest and the marshaling tests for s390x"
for f in gtest-all gtest_main; do
  "$cxx" -std=c++20 -O1 -DGTEST_CAN_STREAM_RESULTS_=0 -I"$gtest_src/include" -I"$gtest_src" \
    -c "$gtest_src/src/$f.cc" -o "$tmp/$f.o"
done
"$cxx" -std=c++20 -O1 -Wall -Wextra -Werror -static -pthread \
  -I"$root/include" -I"$tmp/gen" -I"$here" -I"$gtest_src/include" \
  "$here/roundtrip_test.cc" "$here/validation_test.cc" "$here/evolution_test.cc" \
  "$tmp/gtest-all.o" "$tmp/gtest_main.o" -o "$tmp/marshal_test.s390x"
"$cxx" -std=c++20 -O1 -Wall -Wextra -Werror -static -pthread \
  -I"$root/include" -I"$tmp/gen" -I"$here" -I"$gtest_src/include" \
  "$here/alloc_free_test.cc" "$tmp/gtest-all.o" "$tmp/gtest_main.o" \
  -o "$tmp/alloc_free_test.s390x"
"$qemu" "$tmp/marshal_test.s390x" --gtest_brief=1
"$qemu" "$tmp/alloc_free_test.s390x" --gtest_brief=1
echo "s390x: marshaling test suites pass"
