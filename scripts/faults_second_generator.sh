#!/usr/bin/env bash
# How a strata-faults checkpoint scores cubes of a second, separately written generator
# (scripts/faults_second_generator.py: other earth model, folding, fault shapes, wavelet and noise): CUBES labelled
# 128^3 cubes, each predicted on all four directions (predict's default) and on inlines and crosslines, printed as
# the mean AP exact and within one sample over the cubes, lowest-highest (docs/faults.md, "Generator shift").
#   scripts/faults_second_generator.sh runs/faults_synthetic/best.safetensors [CUBES (default 6)] [SEED (default 7)]
# DIRECTIONS="all" scores one direction setting only (default "all both"). Needs numpy (.venv or the system's).
set -euo pipefail
[[ $# -ge 1 && $# -le 3 ]] || { echo "usage: $0 CHECKPOINT [CUBES] [SEED]" >&2; exit 2; }
[[ -f $1 ]] || { echo "faults_second_generator: $1: no such checkpoint" >&2; exit 1; }
ckpt=$(realpath "$1")
cubes=${2:-6}
seed=${3:-7}
cd "$(dirname "$0")/.."
bin=build/bin/strata-faults
[[ -x "$bin" ]] || { echo "faults_second_generator: $bin not found; build first" >&2; exit 1; }
python=python3
[[ -x .venv/bin/python ]] && python=.venv/bin/python
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$python" scripts/faults_second_generator.py "$out/cubes" "$cubes" "$seed" > /dev/null
echo "| sections | AP exact | AP within 1 sample |"
echo "|---|---|---|"
for direction in ${DIRECTIONS:-all both}; do
  : > "$out/scores.txt"
  for ((i = 0; i < cubes; ++i)); do
    if ! "$bin" eval --checkpoint "$ckpt" --data "$out/cubes/cube_$i.sgy" --labels "$out/cubes/cube_${i}_faults.sgy" \
         --direction "$direction" --out "$out/eval" > "$out/log.txt" 2>&1; then
      echo "faults_second_generator: eval failed for cube $i, $direction:" >&2
      cat "$out/log.txt" >&2
      exit 1
    fi
    # report.csv: the exact row, then the tolerant row; column 3 is AP.
    awk -F, 'NR == 2 { ap = $3 } NR == 3 { print ap, $3 }' "$out/eval/report.csv" >> "$out/scores.txt"
    rm -rf "$out/eval"
  done
  awk -v dir="$direction" '
    { a += $1; t += $2; if (NR == 1 || $1 < lo) lo = $1; if (NR == 1 || $1 > hi) hi = $1
      if (NR == 1 || $2 < tlo) tlo = $2; if (NR == 1 || $2 > thi) thi = $2 }
    END { printf "| %s | %.3f (%.3f-%.3f) | %.3f (%.3f-%.3f) |\n", dir, a / NR, lo, hi, t / NR, tlo, thi }' \
    "$out/scores.txt"
done
