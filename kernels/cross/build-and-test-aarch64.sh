#!/usr/bin/env bash
# Cross-builds the kernels, the portable part of device/ (model files, operators, engine, stats,
# device facts, CRC-32) and the static ubp-devbench for aarch64, and runs their GoogleTest
# suites under qemu-aarch64.
#
#   kernels/cross/build-and-test-aarch64.sh [gtest arguments...]   # build, run every suite
#   kernels/cross/build-and-test-aarch64.sh --build-only           # build ubp-devbench only
#
# The gtest arguments go to every suite (a --gtest_filter that matches nothing in one suite runs
# nothing there). The static runner ends up in <build dir>/bin/ubp-devbench.
#
# Build directory: $UBP_AARCH64_BUILD_DIR, default build/aarch64 (the main build's ctest entry
# `ubp_kernels_aarch64`, label aarch64, passes <main build>/aarch64). The build is incremental:
# configured once, then only what changed is rebuilt. Parallel jobs: $UBP_BUILD_JOBS (default 2).
# Needs (scripts/install-deps.sh installs them): g++-aarch64-linux-gnu, qemu-user, cmake,
# libhwy-dev (headers), googletest sources in /usr/src/googletest.
# Exit status: 0 when every suite passed, else that of the first failing suite; 1 when the
# build fails.
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
suites=(ubp_kernels_tests ubp_device_tests ubp_device_ops_tests ubp_device_engine_tests
        ubp_device_stats_tests)
targets=(ubp-devbench "${suites[@]}")
if [ "${1:-}" = "--build-only" ]; then
  targets=(ubp-devbench)
  shift
fi
if ! cmake --build "$build" -j "$jobs" --target "${targets[@]}"; then
  echo "build-and-test-aarch64: the aarch64 build failed (build directory $build)" >&2
  exit 1
fi
built=$(date +%s)
file "$build/bin/ubp-devbench" 2>/dev/null || true
if [ ${#targets[@]} -eq 1 ]; then
  echo "build-and-test-aarch64: built $build/bin/ubp-devbench in $((built - start)) s"
  exit 0
fi

status=0
for suite in "${suites[@]}"; do
  binary="$build/bin/$suite"
  # A suite that links no test would "pass" silently: count them first.
  count=$(qemu-aarch64 "$binary" --gtest_list_tests | grep -c '^  ' || true)
  if [ "$count" -eq 0 ]; then
    echo "build-and-test-aarch64: $binary contains no tests" >&2
    exit 1
  fi
  suite_start=$(date +%s)
  suite_status=0
  qemu-aarch64 "$binary" --gtest_brief=1 "$@" || suite_status=$?
  echo "build-and-test-aarch64: $suite: $count tests under qemu-aarch64," \
       "$(($(date +%s) - suite_start)) s, exit status $suite_status"
  if [ "$status" -eq 0 ]; then status=$suite_status; fi
done
done_at=$(date +%s)
echo "build-and-test-aarch64: build $((built - start)) s, tests $((done_at - built)) s, exit status $status"
exit "$status"
