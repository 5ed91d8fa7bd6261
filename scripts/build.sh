#!/usr/bin/env bash
# Configures and builds ubp into build/ (executables in build/bin/). Extra arguments are
# passed to `cmake --build`, e.g. `--target ubp`.
#
# UBP_BUILD_TESTS=ON|OFF chooses whether the GoogleTest suites are configured (they need the full
# package set of scripts/install-deps.sh); unset, a new build folder gets ON and an existing one
# keeps what it has. A value that differs from the build folder's reconfigures it.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${UBP_BUILD_JOBS:-$(nproc)}
tests=${UBP_BUILD_TESTS:-}
if [ ! -f build/CMakeCache.txt ] ||
   { [ -n "$tests" ] && ! grep -qx "UBP_BUILD_TESTS:BOOL=$tests" build/CMakeCache.txt; }; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "-DUBP_BUILD_TESTS=${tests:-ON}"
fi
cmake --build build -j "$jobs" "$@"
