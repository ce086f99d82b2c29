#!/usr/bin/env bash
# Scores a strata-faults checkpoint on labelled cubes DIR/cube_I.sgy with DIR/cube_I_faults.sgy (I = 0 .. CUBES-1,
# the layout `strata-faults generate --cubes` and scripts/faults_second_generator.py write), predicted on DIRECTION
# (`eval --direction`), and prints two table cells: AP exact and AP within one sample, each the mean over the cubes
# (lowest-highest). Used by scripts/faults_cube_shift.sh and scripts/faults_second_generator.sh.
#   scripts/faults_score_cubes.sh CHECKPOINT DIR CUBES DIRECTION
# OVERRIDES="key=value ..." (space-separated) are given to every eval: OVERRIDES=inference.stack_below_correlation=1
# scores every cube stacked with its neighbours.
set -euo pipefail
[[ $# -eq 4 ]] || { echo "usage: $0 CHECKPOINT DIR CUBES DIRECTION" >&2; exit 2; }
ckpt=$(realpath "$1") dir=$(realpath "$2") cubes=$3 direction=$4
cd "$(dirname "$0")/.."
bin=build/bin/strata-faults
read -r -a overrides <<< "${OVERRIDES:-}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((i = 0; i < cubes; ++i)); do
  if ! "$bin" eval --checkpoint "$ckpt" --data "$dir/cube_$i.sgy" --labels "$dir/cube_${i}_faults.sgy" \
       --direction "$direction" --out "$out/eval" "${overrides[@]}" > "$out/log.txt" 2>&1; then
    echo "faults_score_cubes: eval failed for cube $i, $direction:" >&2
    cat "$out/log.txt" >&2
    exit 1
  fi
  # report.csv: the exact row, then the tolerant row; column 3 is AP.
  awk -F, 'NR == 2 { ap = $3 } NR == 3 { print ap, $3 }' "$out/eval/report.csv" >> "$out/scores.txt"
  rm -rf "$out/eval"
done
awk '{ a += $1; t += $2; if (NR == 1 || $1 < lo) lo = $1; if (NR == 1 || $1 > hi) hi = $1
       if (NR == 1 || $2 < tlo) tlo = $2; if (NR == 1 || $2 > thi) thi = $2 }
     END { printf "%.3f (%.3f-%.3f) | %.3f (%.3f-%.3f)\n", a / NR, lo, hi, t / NR, tlo, thi }' "$out/scores.txt"
