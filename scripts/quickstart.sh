#!/usr/bin/env bash
# The main job on a fresh machine: install what it needs (the runtime package set, not the test
# toolchain), build `ubp`, run configs/quickstart.yaml and write its report. Extra arguments go
# to `ubp run` (e.g. prune.sparsity=0.95).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --runtime
# A first build folder made here skips the test suites, whose packages the runtime set lacks;
# scripts/test.sh turns them on again.
if [ ! -f build/CMakeCache.txt ]; then export UBP_BUILD_TESTS=OFF; fi
bash scripts/build.sh --target ubp
build/bin/ubp run configs/quickstart.yaml "$@"
echo "quickstart: results in runs/quickstart.db, report in runs/quickstart-report/report.md (beside the database when --db was given)"
