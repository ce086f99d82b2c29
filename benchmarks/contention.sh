#!/usr/bin/env bash
# Training steps alone and beside one busy process, both engines, alternated: how gracefully each shares the
# machine. A step of T threads beside one more runnable thread on T cores gets T / (T + 1) of them under fair
# scheduling, so the ideal slowdown is (T + 1) / T (1.5x on 2 cores).
#   benchmarks/contention.sh [threads (default: all cores)] [rounds (default 2)] [models (default: unet2d faults)]
# Environment passed to strata's side only, to try a waiting policy: STRATA_SIDE_ENV="OMP_WAIT_POLICY=passive".
# Prints one line per model and round: the four median step times and the slowdowns.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}" rounds="${2:-2}" models="${3:-unet2d faults}"
read -r -a side_env <<< "${STRATA_SIDE_ENV:-}"
[[ -x build/bin/bench_train_step ]] || { echo "contention: build first (cmake --build build)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "contention: needs python3-torch" >&2; exit 1; }

ms() { /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
strata() { env STRATA_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" "${side_env[@]}" build/bin/bench_train_step "$1" 5 | ms strata_ms; }
torch() { OMP_NUM_THREADS="$threads" /usr/bin/python3 benchmarks/torch_train_step.py "$1" "$threads" 5 | ms torch_ms; }
busy() { sh -c 'while :; do :; done' & busy_pid=$!; }

trap '[[ -n "${busy_pid:-}" ]] && kill "$busy_pid" 2> /dev/null || true' EXIT
for ((r = 1; r <= rounds; r++)); do
  for m in $models; do
    s_alone=$(strata "$m"); t_alone=$(torch "$m")
    busy; s_busy=$(strata "$m"); t_busy=$(torch "$m"); kill "$busy_pid"; wait "$busy_pid" 2> /dev/null || true
    busy_pid=""
    /usr/bin/python3 -c '
import sys
m, r, sa, sb, ta, tb = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
print(f"{m} round {r}: strata {sa:.0f} ms alone, {sb:.0f} ms beside a busy process ({sb / sa:.2f}x); "
      f"PyTorch {ta:.0f} ms, {tb:.0f} ms ({tb / ta:.2f}x)")' "$m" "$r" "$s_alone" "$s_busy" "$t_alone" "$t_busy"
  done
done
