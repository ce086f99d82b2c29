#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run strata's GPU tests and CUDA
# benchmarks into .gpu/ (ignored by git), so that one device call does the
# whole check. The device image has the CUDA runtime, cuBLAS and cuDNN (the
# latter two as PyTorch's pip wheels) but none of strata's build dependencies,
# so the binaries are built here with nvcc and carried:
#
#   scripts/gpu_bundle.sh [BUILD_DIR]      # default build-gpu: configured with STRATA_CUDA=ON, sm_90
#   device run, carry [".gpu"]:  bash .gpu/run.sh [REPEATS]
#
# run.sh writes gpu_tests.xml, gpu_tests.log, bench_cuda.jsonl and device.txt
# to $OUT (or .gpu/out without one). Binaries need glibc >= 2.34; libstdc++
# and libgomp travel with them.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-gpu}"
targets=(test_cuda_backend bench_cuda strata-cuda-info)

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSTRATA_BENCHMARKS=ON
fi
grep -q '^STRATA_CUDA:BOOL=ON' "$build/CMakeCache.txt" ||
  { echo "gpu_bundle: $build is not a CUDA build (STRATA_CUDA=OFF)" >&2; exit 1; }
cmake --build "$build" --target "${targets[@]}"

rm -rf .gpu
mkdir -p .gpu/lib
for t in "${targets[@]}"; do strip -o ".gpu/$t" "$build/bin/$t"; done
for lib in libstdc++.so.6 libgomp.so.1 libgcc_s.so.1; do
  cp -L "$(ldd "$build/bin/test_cuda_backend" | awk -v l="$lib" '$1 == l { print $3 }')" .gpu/lib/
done
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
git -C "$src" rev-parse --short HEAD > .gpu/commit.txt  # the sources the binaries were built from
cp scripts/gpu_run.sh .gpu/run.sh
du -sh .gpu
echo "gpu_bundle: .gpu ready ($(cat .gpu/commit.txt)); on the device: bash .gpu/run.sh, carry [\".gpu\"]"
