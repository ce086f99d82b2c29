#!/usr/bin/env bash
# strata's CPU backend against PyTorch (Debian python3-torch) on the same
# cases, same thread count, same run. Run after a normal build:
#   benchmarks/cpu_vs_torch.sh [threads (default: all cores)] [repeats (default 5)] [filter]
# Prints one JSON object per line per case: name, strata_ms, torch_ms,
# speedup (torch_ms / strata_ms), strata_gflops; then one per reference U-Net
# training step (forward, backward, Adam; each side in its own process) with
# strata_peak_mb and torch_peak_mb (peak resident set).
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
repeats="${2:-5}"
filter="${3:-}"
bin=build/bin/bench_nn_cpu
[[ -x "$bin" ]] || { echo "cpu_vs_torch: $bin not found; build first (cmake --build build)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "cpu_vs_torch: needs python3-torch (scripts/install_deps.sh --torch)" >&2; exit 1; }

strata_out=$(STRATA_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" "$bin" --repeats "$repeats" --filter "$filter")
torch_out=$(OMP_NUM_THREADS="$threads" /usr/bin/python3 benchmarks/torch_nn.py "$threads" "$repeats" "$filter")

STRATA_OUT="$strata_out" TORCH_OUT="$torch_out" /usr/bin/python3 - <<'PY'
import json, os
torch_rows = {r["name"]: r for r in map(json.loads, os.environ["TORCH_OUT"].splitlines())}
for line in os.environ["STRATA_OUT"].splitlines():
    s = json.loads(line)
    t = torch_rows[s["name"]]
    print(json.dumps({"name": s["name"], "strata_ms": s["strata_ms"], "torch_ms": t["torch_ms"],
                      "speedup": round(t["torch_ms"] / s["strata_ms"], 2), "strata_gflops": s["strata_gflops"],
                      "threads": s["threads"]}))
PY

for model in unet2d unet1d unet_mobilenetv2 unet_vgg16 faults faults_predict faults_volume camvid_scratch camvid_scratch_predict camvid_vgg16 camvid_vgg16_predict camvid_mobilenetv2 camvid_mobilenetv2_predict; do
  [[ -z "$filter" || "train_step_$model" == *"$filter"* ]] || continue
  s=$(STRATA_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" build/bin/bench_train_step "$model" "$repeats")
  t=$(OMP_NUM_THREADS="$threads" /usr/bin/python3 benchmarks/torch_train_step.py "$model" "$threads" "$repeats")
  S="$s" T="$t" /usr/bin/python3 - <<'PY'
import json, os
s, t = json.loads(os.environ["S"]), json.loads(os.environ["T"])
print(json.dumps({"name": s["name"], "strata_ms": s["strata_ms"], "torch_ms": t["torch_ms"],
                  "speedup": round(t["torch_ms"] / s["strata_ms"], 2), "strata_peak_mb": s["strata_peak_mb"],
                  "torch_peak_mb": t["torch_peak_mb"], "threads": s["threads"]}))
PY
done
