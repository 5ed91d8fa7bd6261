#!/usr/bin/env bash
# Cross-builds the kernels and their GoogleTest suite for aarch64 and runs it under qemu-aarch64.
#
#   kernels/cross/build-and-test-aarch64.sh [gtest arguments...]
#
# Build directory: $UBP_AARCH64_BUILD_DIR, default build/aarch64 (the main build's ctest entry
# `ubp_kernels_aarch64`, label aarch64, passes <main build>/aarch64). The build is incremental:
# configured once, then only what changed is rebuilt. Parallel jobs: $UBP_BUILD_JOBS (default 2).
# Needs (scripts/install-deps.sh installs them): g++-aarch64-linux-gnu, qemu-user, cmake,
# libhwy-dev (headers), googletest sources in /usr/src/googletest.
# Exit status: that of the test binary (0 = all tests passed), or 1 when the build fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${UBP_AARCH64_BUILD_DIR:-$repo/build/aarch64}
jobs=${UBP_BUILD_JOBS:-2}

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || missing+=("aarch64-linux-gnu-g++ (package g++-aarch64-linux-gnu)")
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=("qemu-aarch64 (package qemu-user)")
command -v cmake >/dev/null 2>&1 || missing+=("cmake (package cmake)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-and-test-aarch64: missing tools: ${missing[*]}; run scripts/install-deps.sh" >&2
  exit 1
fi

start=$(date +%s)
if [ ! -f "$build/CMakeCache.txt" ]; then
  generator=()
  if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
  cmake -S "$here" -B "$build" "${generator[@]}" \
    -DCMAKE_TOOLCHAIN_FILE="$here/aarch64-linux-gnu.cmake" -DCMAKE_BUILD_TYPE=Release
elif [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  # An earlier configure stopped half-way: generate again with the cached settings.
  cmake -S "$here" -B "$build"
fi
if ! cmake --build "$build" -j "$jobs" --target ubp_kernels_tests; then
  echo "build-and-test-aarch64: the aarch64 build failed (build directory $build)" >&2
  exit 1
fi
built=$(date +%s)

binary="$build/bin/ubp_kernels_tests"
file "$binary" 2>/dev/null || true
# A suite that links no test would "pass" silently: count them first.
count=$(qemu-aarch64 -L /usr/aarch64-linux-gnu "$binary" --gtest_list_tests | grep -c '^  ' || true)
if [ "$count" -eq 0 ]; then
  echo "build-and-test-aarch64: $binary contains no tests" >&2
  exit 1
fi
echo "build-and-test-aarch64: running $count tests of $binary under qemu-aarch64"
status=0
qemu-aarch64 -L /usr/aarch64-linux-gnu "$binary" "$@" || status=$?
done_at=$(date +%s)
echo "build-and-test-aarch64: build $((built - start)) s, tests $((done_at - built)) s, exit status $status"
exit "$status"
