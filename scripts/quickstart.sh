#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, run configs/quickstart.yaml
# and write its report. Extra arguments go to `ubp run` (e.g. prune.sparsity=0.95).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh --target ubp
build/bin/ubp run configs/quickstart.yaml "$@"
echo "quickstart: results in runs/quickstart.db, report in runs/quickstart-report/report.md"
