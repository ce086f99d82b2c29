#!/usr/bin/env bash
# Packs strata's GPU tests and CUDA benchmarks, built here with nvcc, into .gpu/ (ignored by git) for a GPU
# machine that has the CUDA runtime, cuBLAS and cuDNN (e.g. PyTorch's pip wheels) but none of strata's build
# dependencies; copy .gpu/ there and run it:
#
#   scripts/gpu_bundle.sh [BUILD_DIR] [APPS]   # default build-gpu (configured with STRATA_CUDA=ON, sm_90), welllog
#
# APPS: the apps to include, comma-separated (welllog, segment, faults, anomaly). Each binary carries the CUDA
# kernels (about 5 MB compressed), and the bundle travels with the repository under a 64 MiB limit, so take the
# apps a run needs.
#   on the GPU machine:  bash .gpu/run.sh [REPEATS]
#
# run.sh writes gpu_tests.xml, gpu_tests.log, bench_cuda.jsonl and device.txt
# to $OUT (or .gpu/out without one). Binaries need glibc >= 2.34; libstdc++
# and libgomp travel with them.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-gpu}"
apps="${2:-welllog}"
targets=(test_cuda_backend test_cuda_layers test_device_training bench_cuda bench_train_step strata-cuda-info)
for app in ${apps//,/ }; do
  case "$app" in
    welllog | segment | faults | anomaly) targets+=("strata-$app") ;;
    *) echo "gpu_bundle: unknown app '$app': expected welllog, segment, faults or anomaly" >&2; exit 2 ;;
  esac
done

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSTRATA_BENCHMARKS=ON -DSTRATA_MPI=OFF
fi
grep -q '^STRATA_CUDA:BOOL=ON' "$build/CMakeCache.txt" ||
  { echo "gpu_bundle: $build is not a CUDA build (STRATA_CUDA=OFF)" >&2; exit 1; }
cmake --build "$build" --target "${targets[@]}"

# The binaries carry the CUDA kernels (about 11 MB each): they travel as one gzip archive (about 24 MB, small
# enough for a 64 MiB transfer limit), which .gpu/run.sh unpacks into /tmp/strata-gpu on the GPU machine.
rm -rf .gpu
stage=.gpu/stage
mkdir -p "$stage/lib"
for t in "${targets[@]}"; do strip -o "$stage/$t" "$build/bin/$t"; done
# Every shared library the binaries take from this machine's system folders, except glibc's own (the device's
# is newer) and CUDA's (the device has its own runtime, cuBLAS and cuDNN).
for t in "${targets[@]}"; do ldd "$build/bin/$t"; done | awk '$2 == "=>" && $3 ~ /^\/(usr\/)?lib/ { print $1, $3 }' |
  grep -Ev '^(libc|libm|libdl|libpthread|librt|ld-linux[^ ]*)\.so|^libcu|^libcudnn' | sort -u |
  while read -r name path; do cp -L "$path" "$stage/lib/$name"; done
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
git -C "$src" rev-parse --short HEAD > "$stage/commit.txt"  # the sources the binaries were built from
cp scripts/gpu_run.sh "$stage/gpu_run.sh"
tar -czf .gpu/bundle.tgz -C "$stage" .
rm -rf "$stage"
cat > .gpu/run.sh <<'LAUNCH'
#!/usr/bin/env bash
# Unpacks the bundle and runs scripts/gpu_run.sh from it, with the repository (the parent of .gpu) beside it.
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf /tmp/strata-gpu && mkdir -p /tmp/strata-gpu && tar -xzf "$here/bundle.tgz" -C /tmp/strata-gpu || exit 1
STRATA_REPO="$(cd "$here/.." && pwd)" exec bash /tmp/strata-gpu/gpu_run.sh "$@"
LAUNCH
du -sh .gpu
echo "gpu_bundle: .gpu ready ($(tar -xzOf .gpu/bundle.tgz ./commit.txt)); on the device: bash .gpu/run.sh, carry [\".gpu\"]"
