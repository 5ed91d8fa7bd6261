#!/usr/bin/env bash
# Configures and builds ubp into build/ (executables in build/bin/). Extra arguments are
# passed to `cmake --build`, e.g. `--target ubp`.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${UBP_BUILD_JOBS:-$(nproc)}
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j "$jobs" "$@"
