#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan, UBSan) and runs them for a bounded time.
#
#   fuzz.sh TARGET SECONDS [LIBFUZZER_OPTION...]   run one target (e.g. model_file 600)
#   fuzz.sh --all SECONDS                          run every target in turn (CI: --all 20)
#   fuzz.sh --list                                 list the targets
#
# The build folder is scripts/sanitize.sh's (build-sanitize, or UBP_SANITIZE_BUILD_DIR): the
# fuzz targets link the same instrumented libraries as its tests. Each run starts from the seeds
# (regenerated from the project's writers and configs/ by ubp_fuzz_seeds), the inputs that once
# crashed (fuzz/regressions/TARGET) and the corpus earlier runs grew (BUILD/fuzz-corpus/TARGET).
# A crash, a leak, an input slower than 10 s or an allocation over 2 GiB stops the target, saves
# the input under BUILD/fuzz-artifacts/TARGET/ and fails the script; fuzz/README.md says what to
# do with it. A summary line per target gives its executions.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${UBP_SANITIZE_BUILD_DIR:-build-sanitize}
jobs=${UBP_BUILD_JOBS:-$(nproc)}
all_targets=(model_file npy idx image image_cache config device_config torch_pickle zip_archive)

usage() { sed -n '2,7s/^# \{0,1\}//p' "$0"; }

case "${1:-}" in
  --list) printf '%s\n' "${all_targets[@]}"; exit 0 ;;
  --all) [ $# -eq 2 ] || { usage >&2; exit 2; }; targets=("${all_targets[@]}"); seconds=$2; extra=() ;;
  -h | --help) usage; exit 0 ;;
  '' | -*) usage >&2; exit 2 ;;
  *) [ $# -ge 2 ] || { usage >&2; exit 2; }; targets=("$1"); seconds=$2; shift 2; extra=("$@") ;;
esac
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "fuzz: SECONDS must be a positive whole number, got '$seconds'" >&2; exit 2
fi
for t in "${targets[@]}"; do
  if ! printf '%s\n' "${all_targets[@]}" | grep -qx "$t"; then
    echo "fuzz: unknown target '$t' (accepted: ${all_targets[*]})" >&2; exit 2
  fi
done

bash scripts/sanitize.sh --configure-only
binaries=()
for t in "${targets[@]}"; do
  # fuzz_torch_pickle exists only where LibTorch was found (fuzz/CMakeLists.txt).
  if grep -q "^build bin/fuzz_$t:" "$build/build.ninja"; then binaries+=("fuzz_$t"); fi
done
cmake --build "$build" -j "$jobs" --target ubp_fuzz_seeds "${binaries[@]}"

seeds="$build/fuzz-seeds"
rm -rf "$seeds"
"$build/bin/ubp_fuzz_seeds" "$seeds" "$root"

# detect_leaks: each input's allocations must be freed (libFuzzer checks after the run of an
# input that grew the corpus). allocator_may_return_null stays 0: an allocation the sanitizer
# cannot serve is a finding, as is one over -malloc_limit_mb.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

failed=()
summary=()
for t in "${targets[@]}"; do
  if ! printf '%s\n' "${binaries[@]}" | grep -qx "fuzz_$t"; then
    summary+=("$t: skipped (not built: LibTorch was not found)")
    continue
  fi
  corpus="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  mkdir -p "$corpus" "$artifacts" "$seeds/$t"
  dirs=("$corpus" "$seeds/$t")
  if [ -d "fuzz/regressions/$t" ]; then dirs+=("fuzz/regressions/$t"); fi
  log="$build/fuzz-$t.log"
  echo "fuzz: $t for ${seconds} s (log: $log)"
  status=0
  "$build/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 -print_funcs=0 -artifact_prefix="$artifacts/" "${extra[@]}" "${dirs[@]}" </dev/null >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    summary+=("$t: FAILED after ${runs:-?} executions (exit $status); input saved under $artifacts/")
    tail -n 60 "$log" >&2
  else
    summary+=("$t: ${runs:-?} executions in ${seconds} s, corpus $(find "$corpus" -type f | wc -l) files")
  fi
done
printf 'fuzz: %s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
