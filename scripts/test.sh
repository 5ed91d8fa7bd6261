#!/usr/bin/env bash
# The test job on a fresh machine: install what is missing (the full package set), build
# everything with the test suites, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
UBP_BUILD_TESTS=ON bash scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
