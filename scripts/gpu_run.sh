#!/usr/bin/env bash
# Runs on a lent GPU machine from the bundle scripts/gpu_bundle.sh makes
# (copied there as .gpu/run.sh): the GPU tests, then the CUDA benchmarks.
#   bash .gpu/run.sh [REPEATS]     (default 10)
# Results go to $OUT (or .gpu/out): device.txt, gpu_tests.xml, gpu_tests.log,
# bench_cuda.jsonl. Exits with the tests' status.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/out}"
repeats="${1:-10}"
mkdir -p "$out"

# cuBLAS and cuDNN: the toolkit's, else the pip wheels next to PyTorch.
libs="$here/lib"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [ -d "$d" ] && libs="$libs:$d"; done
if command -v python3 >/dev/null; then
  for m in nvidia.cudnn nvidia.cublas nvidia.cuda_runtime; do
    d=$(python3 -c "import $m, os; print(os.path.join(list($m.__path__)[0], 'lib'))" 2>/dev/null) && libs="$libs:$d"
  done
fi
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

{
  echo "commit: $(cat "$here/commit.txt" 2>/dev/null)"
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
  "$here/strata-cuda-info" 2>&1
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
} > "$out/device.txt"
cat "$out/device.txt"

"$here/test_cuda_backend" --gtest_output="xml:$out/gpu_tests.xml" > "$out/gpu_tests.log" 2>&1
status=$?
tail -n 30 "$out/gpu_tests.log"

"$here/bench_cuda" --repeats "$repeats" > "$out/bench_cuda.jsonl" 2> "$out/bench_cuda.err"
echo "bench_cuda: exit $?, $(wc -l < "$out/bench_cuda.jsonl") lines"
cat "$out/bench_cuda.jsonl"
exit $status
