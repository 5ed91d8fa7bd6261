#!/usr/bin/env bash
# Installs every Debian package that ubp needs to build, test and run, and nothing else.
# Packages already installed are skipped; the script says what it installs.
# Works as root, or through sudo for an ordinary user.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries the code links against
  libtorch-dev libgloo-dev libopenblas0-openmp
  libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev libssl-dev
  # block-sparse kernels: SIMD (Highway), threads, BLAS headers (the OpenMP OpenBLAS build:
  # the pthread one fights the OpenMP pool LibTorch uses), XNNPACK for comparison
  libhwy-dev libpthreadpool-dev libopenblas-openmp-dev libxnnpack-dev
  # training: the built-in Fashion-MNIST dataset and zlib to read its .gz files
  dataset-fashion-mnist zlib1g-dev
  # image-folder datasets (ImageNet subsets): JPEG decoding with libjpeg-turbo, PNG with libpng
  libjpeg62-turbo-dev libpng-dev
  # aarch64: cross compiler and user-mode emulator for the kernel tests
  g++-aarch64-linux-gnu qemu-user
  # devices: ssh boards (scp/ssh; the ssh transport test starts its own sshd on loopback) and
  # Android phones (Debian's adb client)
  openssh-client openssh-server adb
  # sweeps on Slurm: `ubp plan --slurm` writes job arrays; the Slurm test starts its own
  # single-node cluster (slurmctld, slurmd) with its own munge daemon and key
  slurm-wlm munge
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev sqlite3 e2fsprogs
  # reports: figures drawn by gnuplot (svg and pngcairo terminals); the report tests check SVGs
  # with xmllint and open index.html in headless Chromium
  gnuplot-nox libxml2-utils chromium
  # the weights-import test: /usr/bin/python3 with torch (pulled in) and torchvision writes
  # torchvision ResNet state_dicts, TorchScript archives and reference logits
  python3-torchvision
)

missing=()
for p in "${packages[@]}"; do
  # dpkg-query reports "install ok installed" only for a fully installed package.
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages are already installed."
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

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done."
