#!/usr/bin/env bash
# Step time of the U-Net 2D reference step (global batch 4 x 1 x 256 x 256) on this machine as
# 1 rank x T threads and as R ranks x T/R threads (default T = R = 2), alternating the two so that
# machine noise falls on both; prints each run's JSON (bench_data_parallel) and the ranges.
# Usage: benchmarks/data_parallel.sh [rounds (default 3)] [ranks (default 2)] [threads (default 2)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
ranks=${2:-2}
threads=${3:-2}
bin=build/bin/bench_data_parallel
[[ -x $bin ]] || { echo "build first: cmake --build build --target bench_data_parallel" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp)
for ((i = 1; i <= rounds; ++i)); do
  STRATA_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$bin" 8 | tee -a "$out"
  mpirun --oversubscribe --bind-to core -np "$ranks" -x STRATA_NUM_THREADS=$((threads / ranks)) \
    -x OMP_NUM_THREADS=$((threads / ranks)) "$bin" 8 | tee -a "$out"
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for ranks in sorted({r["ranks"] for r in rows}):
    rs = [r for r in rows if r["ranks"] == ranks]
    steps = [r["step_ms"] for r in rs]
    sync = [r["allreduce_in_step_ms"] for r in rs]
    print(f"{ranks} rank(s) x {rs[0]['threads_per_rank']} thread(s): step {min(steps):.0f}-{max(steps):.0f} ms, "
          f"gradient allreduce in the step {min(sync):.1f}-{max(sync):.1f} ms "
          f"({rs[0]['gradient_mb']:.1f} MB; alone {min(r['allreduce_alone_ms'] for r in rs):.1f}-"
          f"{max(r['allreduce_alone_ms'] for r in rs):.1f} ms)")
PY
rm -f "$out"
