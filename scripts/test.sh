#!/usr/bin/env bash
# The test job on a fresh machine: install what is missing, build everything, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
