#!/usr/bin/env bash
# The reproduce campaign (configs/reproduce/): the three pruning protocols, four selectors, four
# block shapes, sparsities 0.5 to 0.9 and three seeds on Fashion-MNIST, the selectors on the
# trained weights and against the exact reference DP, latency on this host, then one report
# with the paired comparisons and the Claims section. Resumable: done runs are skipped.
#   bash scripts/reproduce.sh [--db runs/reproduce.db] [--report DIR] [--workers N]
# The training steps run N `ubp run` workers on the one database (default: one per core, each
# with train.threads=1; they share the sweep through run leases). Workers after the first log
# to <db dir>/reproduce-worker-N.log.
set -euo pipefail
cd "$(dirname "$0")/.."
db=runs/reproduce.db
report=runs/reproduce-report
workers=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --db) db=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "reproduce: unknown argument '$1' (accepted: --db PATH, --report DIR, --workers N)" >&2; exit 2 ;;
  esac
done
ubp=build/bin/ubp
[ -x "$ubp" ] || bash scripts/build.sh --target ubp
start=$(date +%s)
step() { echo "reproduce: $1 ($(( $(date +%s) - start )) s so far)"; }
case "$workers" in ''|*[!0-9]*|0) echo "reproduce: --workers needs a positive integer, got '$workers'" >&2; exit 2 ;; esac
# One sweep, several workers: the first prints, the others log beside the database.
train_sweep() {
  local config=$1 threads=0 pids=() failed=0 i
  [ "$workers" -gt 1 ] && threads=1
  mkdir -p "$(dirname "$db")"
  for i in $(seq 2 "$workers"); do
    "$ubp" run "$config" train.threads=$threads --db "$db" --report "$report" \
      > "$(dirname "$db")/reproduce-worker-$i.log" 2>&1 &
    pids+=($!)
  done
  "$ubp" run "$config" train.threads=$threads --db "$db" --report "$report" || failed=1
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  [ "$failed" = 0 ] || { echo "reproduce: a worker of $config failed (see above and $(dirname "$db")/reproduce-worker-*.log)" >&2; exit 1; }
}

step "protocols: oneshot, gmp and admm at 50/80/90% with 4x1 blocks"
train_sweep configs/reproduce/protocols.yaml
step "block shapes 2x1, 8x1 and 2x2 at 80% with gmp"
train_sweep configs/reproduce/blocks.yaml
# The dense run's id: the plan of protocols.yaml names it (prune.method "none").
# (awk reads the whole plan: leaving early would end `ubp plan` by SIGPIPE, which pipefail and
# set -e turn into a silent exit of this script.)
dense=$("$ubp" plan configs/reproduce/protocols.yaml | awk '/prune.method="none"/ && id == "" {id = $2} END {print id}')
[ -n "$dense" ] || { echo "reproduce: no dense run in the plan of configs/reproduce/protocols.yaml" >&2; exit 1; }
step "selectors on the trained dense weights of run $dense"
"$ubp" run configs/reproduce/selection.yaml selection.run="$dense" --db "$db" --report "$report"
step "selectors against the exact reference DP"
"$ubp" run configs/reproduce/selection-dp.yaml --db "$db" --report "$report"
step "latency on this host"
"$ubp" run configs/reproduce/latency.yaml --db "$db" --report "$report"
step "done: report in $report/report.md"
