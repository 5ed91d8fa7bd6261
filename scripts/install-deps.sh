#!/usr/bin/env bash
# Installs the Debian packages ubp needs, and nothing else. Packages already installed are
# skipped; the script says what it installs. Works as root, or through sudo for an ordinary user.
#
#   install-deps.sh             the full set: build everything and pass every test (scripts/test.sh)
#   install-deps.sh --runtime   only what the main job needs: build `ubp` and `ubp-devbench` and run
#                               configs/quickstart.yaml with its report (scripts/quickstart.sh)
#   install-deps.sh --print     print the chosen set, one package a line, and install nothing
#                               (combine with --runtime)
set -euo pipefail

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
}

runtime_only=false
print_only=false
for arg in "$@"; do
  case "$arg" in
    --runtime) runtime_only=true ;;
    --print) print_only=true ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install-deps: unknown option '$arg' (accepted: --runtime, --print, --help)" >&2; exit 2 ;;
  esac
done

# What the main job needs: configure and build `ubp` (which builds `ubp-devbench`), train on
# Fashion-MNIST, measure on this host and draw the report's figures.
runtime=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  # libraries the code links against (the OpenMP OpenBLAS build: the pthread one fights the
  # OpenMP pool LibTorch uses); Google Benchmark because the configure step finds it for the
  # benchmark binaries
  libtorch-dev libgloo-dev libopenblas0-openmp
  libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev libssl-dev
  libbenchmark-dev
  # block-sparse kernels: SIMD (Highway), threads, BLAS headers
  libhwy-dev libpthreadpool-dev libopenblas-openmp-dev
  # training: the built-in Fashion-MNIST dataset and zlib to read its .gz files
  dataset-fashion-mnist zlib1g-dev
  # image-folder datasets (ImageNet subsets): JPEG decoding with libjpeg-turbo, PNG with libpng
  libjpeg62-turbo-dev libpng-dev
  # reports: figures drawn by gnuplot (svg and pngcairo terminals)
  gnuplot-nox
)

# What only the tests, the benchmarks and the other devices need, on top of the runtime set.
tests_and_devices=(
  git
  # XNNPACK: ubp-bench-kernels compares our kernels with it
  libxnnpack-dev
  # aarch64: cross compiler and user-mode emulator for the kernel tests
  g++-aarch64-linux-gnu qemu-user
  # devices: ssh boards (scp/ssh; the ssh transport test starts its own sshd on loopback) and
  # Android phones (Debian's adb client)
  openssh-client openssh-server adb
  # sweeps on Slurm: `ubp plan --slurm` writes job arrays; the Slurm test starts its own
  # single-node cluster (slurmctld, slurmd) with its own munge daemon and key
  slurm-wlm munge
  # tests: GoogleTest, the sqlite3 shell, a small ext2 image for the full-disk test
  libgtest-dev libgmock-dev sqlite3 e2fsprogs
  # the report tests check SVGs with xmllint and open index.html in headless Chromium
  libxml2-utils chromium
  # the weights-import test: /usr/bin/python3 with torch (pulled in) and torchvision writes
  # torchvision ResNet state_dicts, TorchScript archives and reference logits
  python3-torchvision
  # scripts/sanitize.sh and scripts/fuzz.sh: clang 14 with its sanitizer and libFuzzer runtimes
  # (libclang-rt-14-dev holds libclang_rt.fuzzer, which -fsanitize=fuzzer links; clang only
  # recommends it) and llvm-symbolizer for readable sanitizer reports
  clang libclang-rt-14-dev llvm
)

packages=("${runtime[@]}")
if ! $runtime_only; then packages+=("${tests_and_devices[@]}"); fi

if $print_only; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

set_name=$($runtime_only && echo "runtime" || echo "full")
missing=()
for p in "${packages[@]}"; do
  # dpkg-query reports "install ok installed" only for a fully installed package.
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages of the $set_name set are already installed."
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: need root to install: ${missing[*]}" >&2
  echo "install-deps: run this script as root, or install sudo." >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} package(s) of the $set_name set: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done."
