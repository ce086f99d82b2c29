#!/usr/bin/env bash
# The CPU table of docs/benchmarks.md: every model's training step (and the prediction rows) of strata against
# PyTorch, ROUNDS rounds of benchmarks/cpu_vs_torch.sh (each round runs strata, then PyTorch, model by model, so
# the two sides alternate), printed as a Markdown table of ranges with the machine and the date.
#   benchmarks/cpu_table.sh [threads (default: all cores)] [rounds (default 3)] [repeats per round (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}" rounds="${2:-3}" repeats="${3:-3}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
  echo "cpu_table: round $r of $rounds" >&2
  benchmarks/cpu_vs_torch.sh "$threads" "$repeats" train_step >> "$out"
done
source benchmarks/cpu_model.sh
cpu="$(cpu_model)"
flags="$(grep -o -m1 -w 'avx512f\|avx2' /proc/cpuinfo | sort -u | tail -1 || true)"
OUT="$out" CPU="$cpu" FLAGS="$flags" THREADS="$threads" ROUNDS="$rounds" REPEATS="$repeats" /usr/bin/python3 - <<'PY'
import datetime, json, os
import torch
rows = {}
for line in open(os.environ["OUT"]):
    if line.strip():
        r = json.loads(line)
        rows.setdefault(r["name"], []).append(r)
span = lambda v, f: f % min(v) if f % min(v) == f % max(v) else (f % min(v)) + "-" + (f % max(v))
print(f"{os.environ['CPU']} ({os.environ['FLAGS'].upper() or 'no AVX2'}), {os.environ['THREADS']} threads each, "
      f"{os.environ['ROUNDS']} rounds of {os.environ['REPEATS']} steps (median), {datetime.date.today()}; "
      f"PyTorch {torch.__version__.split('+')[0]}; "
      f"`benchmarks/cpu_table.sh {os.environ['THREADS']} {os.environ['ROUNDS']} {os.environ['REPEATS']}`")
print()
print("| case | strata ms | PyTorch ms | speedup | strata / PyTorch peak MB |")
print("|---|---|---|---|---|")
for name, rs in rows.items():
    s = [r["strata_ms"] for r in rs]
    t = [r["torch_ms"] for r in rs]
    x = [r["speedup"] for r in rs]
    sp = [r["strata_peak_mb"] for r in rs]
    tp = [r["torch_peak_mb"] for r in rs]
    print(f"| {name.replace('train_step_', '')} | {span(s, '%.0f')} | {span(t, '%.0f')} | {span(x, '%.2f')}x | "
          f"{span(sp, '%.0f')} / {span(tp, '%.0f')} |")
PY
