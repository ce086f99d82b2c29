#!/usr/bin/env bash
# The Fashion-MNIST one-class table of docs/anomaly.md: every
# model config x every class x seeds, each run's test report collected into
# one CSV, then per-model means and spreads.
#   scripts/anomaly_fmnist_table.sh [out (runs/anomaly_table)] [seeds (1 2 3)] [models (ae vae convae convae_dense ae_transforms)]
# Runs that already have test/report.csv are kept (the script resumes).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/anomaly_table}"
seeds="${2:-1 2 3}"
models="${3:-ae vae convae convae_dense ae_transforms}"
bin=build/bin/strata-anomaly
[[ -x "$bin" ]] || { echo "anomaly_fmnist_table: $bin not found; build first" >&2; exit 1; }
mkdir -p "$out"
for seed in $seeds; do
  for model in $models; do
    for k in 0 1 2 3 4 5 6 7 8 9; do
      run="$out/$model/class$k/seed$seed"
      [[ -f "$run/test/report.csv" ]] && continue
      mkdir -p "$(dirname "$run")"
      start=$(date +%s)
      "$bin" train --config "configs/anomaly_fmnist_$model.yaml" --out "$run" --force \
        data.normal_class=$k train.seed=$seed train.progress=false > "$run.log" 2>&1 ||
        { echo "failed: $run (see $run.log)" >&2; exit 1; }
      echo "$model class $k seed $seed: $(( $(date +%s) - start )) s, $(grep '^auroc' "$run/test/report.csv")"
    done
  done
done
python3 - "$out" <<'PY'
import csv, glob, os, statistics as st, sys
out = sys.argv[1]
rows = []
for rep in sorted(glob.glob(f"{out}/*/class*/seed*/test/report.csv")):
    run = os.path.dirname(os.path.dirname(rep))
    seed = os.path.basename(run)[4:]; k = os.path.basename(os.path.dirname(run))[5:]
    model = os.path.basename(os.path.dirname(os.path.dirname(run)))
    vals = {r[0]: r[1] for r in csv.reader(l for l in open(rep) if not l.startswith("#"))}
    rules = {r["rule"]: r for r in csv.DictReader(l for l in open(f"{run}/test/rules.csv") if not l.startswith("#"))}
    rows.append(dict(model=model, normal_class=k, seed=seed, auroc=float(vals["auroc"]), ap=float(vals["ap"]),
                     tpr_ref=float(rules["tpr1_quantile 0.9"]["tpr"]), tnr_ref=float(rules["tpr1_quantile 0.9"]["tnr"]),
                     tpr_youden=float(rules["youden"]["tpr"]), tnr_youden=float(rules["youden"]["tnr"])))
with open(f"{out}/table.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
print(f"wrote {out}/table.csv ({len(rows)} runs)")
models = sorted({r["model"] for r in rows})
print("| model | runs | AUROC mean | AUROC sd (over classes x seeds) | TPR / TNR, reference rule | TPR / TNR, Youden |")
print("|---|---|---|---|---|---|")
for m in models:
    rs = [r for r in rows if r["model"] == m]
    a = [r["auroc"] for r in rs]
    sd = st.stdev(a) if len(a) > 1 else 0.0
    mean = lambda key: st.mean(r[key] for r in rs)
    print(f"| {m} | {len(rs)} | {st.mean(a):.4f} | {sd:.4f} | {mean('tpr_ref'):.3f} / {mean('tnr_ref'):.3f} | "
          f"{mean('tpr_youden'):.3f} / {mean('tnr_youden'):.3f} |")
print()
print("| class | " + " | ".join(models) + " |")
print("|---|" + "---|" * len(models))
for k in sorted({r["normal_class"] for r in rows}, key=int):
    cells = []
    for m in models:
        a = [r["auroc"] for r in rows if r["model"] == m and r["normal_class"] == k]
        cells.append(f"{st.mean(a):.4f} ± {st.stdev(a):.4f}" if len(a) > 1 else (f"{a[0]:.4f}" if a else "-"))
    print(f"| {k} | " + " | ".join(cells) + " |")
PY
