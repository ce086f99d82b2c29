#!/usr/bin/env bash
# One training epoch (6000 images, batch 64, Adam) of each strata-anomaly
# Fashion-MNIST model against the identical PyTorch model, same threads, the
# two sides alternated ROUNDS times (each run the median of EPOCHS epochs).
#   benchmarks/anomaly_vs_torch.sh [threads (all cores)] [rounds (3)] [epochs (3)] [models]
# Prints one JSON line per model: strata and torch ms per epoch (each round's
# median listed), and the speedup range (torch / strata, worst to best round).
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
rounds="${2:-3}"
epochs="${3:-3}"
models="${4:-ae vae convae convae_dense}"
bin=build/bin/bench_anomaly_epoch
[[ -x "$bin" ]] || { echo "anomaly_vs_torch: $bin not found; build first" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "anomaly_vs_torch: needs python3-torch" >&2; exit 1; }
for model in $models; do
  cfg="configs/anomaly_fmnist_$model.yaml"
  s_all=() t_all=()
  for ((r = 0; r < rounds; r++)); do
    s=$(STRATA_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" "$bin" "$cfg" "$epochs")
    t=$(OMP_NUM_THREADS="$threads" /usr/bin/python3 benchmarks/torch_anomaly_epoch.py "$cfg" "$threads" "$epochs")
    s_all+=("$s") t_all+=("$t")
  done
  S="${s_all[*]}" T="${t_all[*]}" M="$model" TH="$threads" /usr/bin/python3 - <<'PY'
import json, os, re
s = [json.loads(x)["strata_ms"] for x in re.findall(r"\{[^}]*\}", os.environ["S"])]
t = [json.loads(x)["torch_ms"] for x in re.findall(r"\{[^}]*\}", os.environ["T"])]
ratios = sorted(b / a for a, b in zip(s, t))
print(json.dumps({"model": os.environ["M"], "threads": int(os.environ["TH"]), "strata_ms": s, "torch_ms": t,
                  "speedup_min": round(ratios[0], 2), "speedup_max": round(ratios[-1], 2)}))
PY
done
