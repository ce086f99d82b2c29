#!/usr/bin/env bash
# Installs every system package strata builds, tests and benchmarks with
# (Debian / Ubuntu). Idempotent: packages already present are skipped, and
# apt-get runs only when something is missing.
#   scripts/install_deps.sh            build + test dependencies
#   scripts/install_deps.sh --torch    also python3-torch and -torchvision (PyTorch comparisons, reference files)
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config   # toolchain
  libeigen3-dev                      # CPU GEMM and vector code
  libboost-context-dev               # fibers of the CUDA emulator
  nlohmann-json3-dev                 # safetensors headers, JSON
  libyaml-cpp-dev                    # YAML configs
  libstb-dev                         # PNG / JPEG read and write, plot text
  zlib1g-dev                         # 16-bit PNG output
  libgtest-dev googletest            # tests
  libbenchmark-dev                   # benchmarks
  dataset-fashion-mnist              # Fashion-MNIST (IDX) for strata-anomaly
  libsegyio-dev                      # SEG-Y read / write for strata-faults
  libopenmpi-dev openmpi-bin         # data-parallel training across processes (mpirun)
)
if [[ "${1:-}" == "--torch" ]]; then
  # OpenBLAS: without it Debian's torch falls back to the reference BLAS (a 784-512 MLP step 5x slower),
  # which would make every PyTorch comparison flatter us.
  packages+=(python3-torch python3-torchvision python3-numpy libopenblas0-pthread)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install_deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
