#!/usr/bin/env bash
# The efficiency table of docs/benchmarks.md: each CPU convolution kernel and the GEMM against the fused
# multiply-add peak of the same threads (build/bin/bench_efficiency), ROUNDS runs, as a Markdown table of ranges
# with the machine and the date.
#   benchmarks/efficiency_table.sh [threads (default: all cores)] [rounds (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}" rounds="${2:-3}"
[[ -x build/bin/bench_efficiency ]] || { echo "efficiency_table: build first (cmake --build build)" >&2; exit 1; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
  STRATA_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" build/bin/bench_efficiency >> "$out"
done
source benchmarks/cpu_model.sh
cpu="$(cpu_model)"
OUT="$out" CPU="$cpu" THREADS="$threads" ROUNDS="$rounds" /usr/bin/python3 - <<'PY'
import datetime, json, os
rows, peaks = {}, []
for line in open(os.environ["OUT"]):
    r = json.loads(line)
    if r["case"] == "fma_peak":
        peaks.append(r["gflops"])
        continue
    rows.setdefault((r["case"], r["shape"]), []).append(r)
peak = max(peaks)
def span(values, fmt="{:.0f}"):
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else fmt.format(lo) + "-" + fmt.format(hi)
def pct(values):
    return span([100 * v / peak for v in values]) + "%"
print(f"FMA peak of {os.environ['THREADS']} threads: {span(peaks)} GFLOP/s ({os.environ['CPU']}, "
      f"{datetime.date.today()}, {os.environ['ROUNDS']} runs; `benchmarks/efficiency_table.sh "
      f"{os.environ['THREADS']} {os.environ['ROUNDS']}`)\n")
print("| kernel | shape | forward GFLOP/s (direct count / executed) | % of peak (executed) "
      "| forward + backward GFLOP/s (direct / executed) | % of peak (executed) |")
print("|---|---|---|---|---|---|")
for (case, shape), rs in rows.items():
    if case == "gemm":
        g = [r["gflops"] for r in rs]
        print(f"| GEMM | {shape} | {span(g)} | {pct(g)} | | |")
        continue
    f, fe = [r["fwd_gflops"] for r in rs], [r["fwd_exec_gflops"] for r in rs]
    b, be = [r["fwd_bwd_gflops"] for r in rs], [r["fwd_bwd_exec_gflops"] for r in rs]
    same = lambda a, c: all(abs(x - y) < 1e-9 for x, y in zip(a, c))
    fcell = span(f) if same(f, fe) else f"{span(f)} / {span(fe)}"
    bcell = span(b) if same(b, be) else f"{span(b)} / {span(be)}"
    print(f"| {case} | {shape} | {fcell} | {pct(fe)} | {bcell} | {pct(be)} |")
PY
