#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
# installs dependencies, then two builds (Release, all cores):
#   build/      the normal build; with nvcc present it also compiles the CUDA
#               sources for sm_80 and sm_90 (compile and link check, no GPU run)
#   build-emu/  the CUDA emulator build, which runs the kernels in kernels/cuda
#               and tests/*.cu on the CPU (ctest label cuda_emu)
# and runs every ctest test of both. Tests labelled `data` skip with a message
# when ../shared/data is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_deps.sh
if [[ -z "${CUDACXX:-}" && -x /usr/local/cuda/bin/nvcc ]]; then export CUDACXX=/usr/local/cuda/bin/nvcc; fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
cmake -S . -B build-emu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA_EMU=ON -DSTRATA_BENCHMARKS=OFF
cmake --build build-emu -j "$(nproc)"

ctest --test-dir build --output-on-failure -j "$(nproc)"
ctest --test-dir build-emu --output-on-failure -j "$(nproc)" -L cuda_emu
