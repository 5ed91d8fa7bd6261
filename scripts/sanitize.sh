#!/usr/bin/env bash
# The sanitizer job: builds the libraries that need no LibTorch (support, algorithms, kernels,
# results, reports, device, the harness readers) and their GoogleTest suites with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, then runs their ctest. Any sanitizer report
# fails the test that triggered it. Extra arguments go to ctest (e.g. -R ubp_device).
#
#   sanitize.sh --configure-only   only configure the build folder (scripts/fuzz.sh uses it)
#
#   UBP_SANITIZE_BUILD_DIR   build folder (default build-sanitize)
#   UBP_BUILD_JOBS           parallel compile jobs (default: the number of cores)
#   UBP_TEST_TIME_SCALE      factor on the wall-clock bounds of the tests that start processes
#                            and connections (the device host tests; default 4: the job runs
#                            instrumented binaries in parallel, often on a shared machine)
#
# The folder is configured with UBP_FUZZ=ON as well: the fuzz targets (scripts/fuzz.sh) link
# the same instrumented libraries, so the two jobs compile them once between them. The test
# binaries then carry libFuzzer's coverage counters too, which costs them a little speed only.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${UBP_SANITIZE_BUILD_DIR:-build-sanitize}
jobs=${UBP_BUILD_JOBS:-$(nproc)}
time_scale=${UBP_TEST_TIME_SCALE:-4}

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "sanitize: $tool not found; run scripts/install-deps.sh" >&2; exit 1; }
done
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi

# RelWithDebInfo: optimised like the real build (kernels take their SIMD paths), with line
# numbers in the sanitizer reports.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_COMPILER=clang "${launcher[@]}" \
  -DUBP_WITH_TORCH=OFF -DUBP_FUZZ=ON -DUBP_BUILD_TESTS=ON "-DUBP_TEST_TIME_SCALE=$time_scale" >/dev/null
if [ "${1:-}" = "--configure-only" ]; then exit 0; fi

suites=(ubp_support_tests ubp_algorithms_tests ubp_kernels_tests ubp_results_tests ubp_reports_tests
        ubp_reports_figures_tests ubp_device_tests ubp_device_ops_tests ubp_device_engine_tests
        ubp_device_stats_tests ubp_devbench_tests ubp_device_host_tests ubp_device_protocol_tests
        ubp_readers_tests)
# Suites that exist only where their dependency was found: the pickle reader's tests link
# LibTorch (fuzz/CMakeLists.txt), the XNNPACK comparison needs Debian's XNNPACK.
for optional in ubp_torch_pickle_tests ubp_device_xnnpack_tests; do
  if grep -q "^build $optional: phony" "$build/build.ninja"; then suites+=("$optional"); fi
done
cmake --build "$build" -j "$jobs" --target "${suites[@]}"

# halt_on_error with the -fno-sanitize-recover build: the first report ends the test process.
# LeakSanitizer needs ptrace-like access that some containers deny: UBP_SANITIZE_LEAKS=0 turns
# it off there.
# allocator_may_return_null: an allocation the system refuses throws std::bad_alloc as in the
# normal build, which the readers turn into their errors (the fuzz targets count it a finding).
export ASAN_OPTIONS="halt_on_error=1:detect_stack_use_after_return=1:allocator_may_return_null=1:detect_leaks=${UBP_SANITIZE_LEAKS:-1}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Left out: the aarch64 cross build (label aarch64), a plain build under qemu; and the one test
# that runs ubp-devbench under `ulimit -v 2097152`, where no AddressSanitizer binary can start
# (its shadow memory alone reserves terabytes of address space).
cd "$build"
ctest --output-on-failure -j "$jobs" -LE aarch64 \
  -E '^Devbench\.HugeDeclaredFeatureMapsUnderAnAddressSpaceLimitGiveAClearError$' "$@"
