#!/usr/bin/env bash
# Installs every system package strata builds, tests and benchmarks with
# (Debian / Ubuntu). Idempotent: packages already present are skipped, and
# apt-get runs only when something is missing.
#   scripts/install_deps.sh            build + test dependencies
#   scripts/install_deps.sh --torch    also python3-torch and -torchvision (PyTorch comparisons, reference files)
#   scripts/install_deps.sh --onnx     also .venv/ (beside this folder): onnxruntime, onnx, numpy and lasio from PyPI,
#                                      which the ONNX export's parity tests run the exported models with (lasio: a LAS well)
# The flags combine.
set -euo pipefail
cd "$(dirname "$0")/.."
torch=0 onnx=0
for flag in "$@"; do
  case "$flag" in
    --torch) torch=1 ;;
    --onnx) onnx=1 ;;
    *) echo "install_deps: unknown flag $flag (--torch, --onnx)" >&2; exit 2 ;;
  esac
done

packages=(
  cmake ninja-build g++ pkg-config   # toolchain
  libeigen3-dev                      # CPU GEMM and vector code
  libboost-context-dev               # fibers of the CUDA emulator
  nlohmann-json3-dev                 # safetensors headers, JSON
  libyaml-cpp-dev                    # YAML configs
  libstb-dev                         # PNG / JPEG read and write
  libcairo2-dev fonts-dejavu-core    # figures: PNG, SVG and PDF through cairo, text in DejaVu Sans
  zlib1g-dev                         # 16-bit PNG output
  libgtest-dev googletest            # tests
  libbenchmark-dev                   # benchmarks
  dataset-fashion-mnist              # Fashion-MNIST (IDX) for strata-anomaly
  libsegyio-dev                      # SEG-Y read / write for strata-faults
  libopenmpi-dev openmpi-bin         # data-parallel training across processes (mpirun)
  libonnx-dev libprotobuf-dev        # ONNX export (the ONNX project's protobuf classes and checker)
  python3-venv                       # the onnxruntime environment of --onnx
)
if ((torch)); then
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
else
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "install_deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ((onnx)); then
  if ! .venv/bin/python -c "import onnxruntime, onnx, numpy, lasio" 2>/dev/null; then
    echo "install_deps: making .venv with onnxruntime, onnx, numpy and lasio"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check onnxruntime onnx numpy lasio
  fi
  echo "install_deps: .venv: $(.venv/bin/python -c 'import onnxruntime, onnx; print("onnxruntime", onnxruntime.__version__, "onnx", onnx.__version__)')"
fi
