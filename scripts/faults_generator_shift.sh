#!/usr/bin/env bash
# How a strata-faults checkpoint holds up when the generator's look moves away from what it was trained on:
# `eval` on 64 held-out sections (test seed 2002) of the checkpoint's own generator, then with one group of
# ranges moved outside the shipped config's at a time, then each kind of variety the generator can add (in the
# shipped config's training sections, not its test sections), then several at once. Prints one row per shift:
# AP exact, ROC AUC, AP within the checkpoint's tolerance, and last the mean AP over the shifted rows (every row but
# the own generator's). A proxy for sections from another generator (docs/faults.md, "Generator shift").
#   scripts/faults_generator_shift.sh runs/faults_synthetic/best.safetensors [extra key=value ...]
# Extra overrides apply to every row (e.g. the shipped config's ranges, to score a model trained on others).
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 CHECKPOINT [key=value ...]" >&2; exit 2; }
[[ -f $1 ]] || { echo "faults_generator_shift: $1: no such checkpoint" >&2; exit 1; }
ckpt=$(realpath "$1")  # before the cd, so a path relative to the caller's folder works
shift
cd "$(dirname "$0")/.."
bin=build/bin/strata-faults
[[ -x "$bin" ]] || { echo "faults_generator_shift: $bin not found; build first" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Every kind of variety at once (dense reflectivity in half of the sections).
all_eight="data.synthetic.dense_reflectivity=0.5 data.synthetic.wavelets=[ormsby,morlet] data.synthetic.reflector_variation=[0.3,0.6] data.synthetic.listric=1 data.synthetic.fault_zone=[2,4] data.synthetic.truncated=1 data.synthetic.faults=[2,6] data.synthetic.coherent_noise=1"
shifts=(
  "own generator|"
  "high frequency (period 3-5 samples)|data.synthetic.period=[3,5]"
  "low frequency (period 18-30)|data.synthetic.period=[18,30]"
  "noisy (SNR 0.7-1.5, smoothed noise)|data.synthetic.snr=[0.7,1.5] data.synthetic.noise_smooth=[1,3]"
  "small throws (1-3 samples)|data.synthetic.throw=[1,3]"
  "low dips (35-50 degrees)|data.synthetic.dip=[35,50]"
  "thick layers (8-25 samples)|data.synthetic.layer_thickness=[8,25]"
  "strong folding (10-25, shear 0.3)|data.synthetic.fold_amplitude=[10,25] data.synthetic.shear=[-0.3,0.3]"
  "many faults (4-8)|data.synthetic.faults=[4,8]"
  "anti-aliased traces (antialias 4)|data.synthetic.antialias=4"
  "a reflection coefficient at every sample|data.synthetic.dense_reflectivity=1"
  "Ormsby wavelets|data.synthetic.wavelets=[ormsby]"
  "Morlet wavelets|data.synthetic.wavelets=[morlet]"
  "reflector amplitudes varying (0.3-0.6)|data.synthetic.reflector_variation=[0.3,0.6]"
  "listric faults|data.synthetic.listric=1"
  "fault zones (2-4 samples)|data.synthetic.fault_zone=[2,4]"
  "faults ending against others (2-6 faults)|data.synthetic.truncated=1 data.synthetic.faults=[2,6]"
  "coherent noise events|data.synthetic.coherent_noise=1"
  "attenuation (period 1.3-2x longer at the bottom)|data.synthetic.attenuation=1"
  "white noise (SNR 1-2, not smoothed or filtered)|data.synthetic.snr=[1,2] data.synthetic.noise_smooth=[0,0] data.synthetic.noise_wavelet=0"
  "clipped amplitudes (at 1-2 standard deviations)|data.synthetic.clip=1 data.synthetic.clip_level=[1,2]"
  "all eight at once|$all_eight"
  "low frequency, noisy and all eight|data.synthetic.period=[18,30] data.synthetic.snr=[0.7,1.5] data.synthetic.noise_smooth=[1,3] $all_eight"
)
echo "| generator | AP exact | ROC AUC | AP within tolerance |"
echo "|---|---|---|---|"
for s in "${shifts[@]}"; do
  name=${s%%|*}
  read -r -a keys <<< "${s#*|}"
  if ! "$bin" eval --checkpoint "$ckpt" --out "$out/eval" data.test_sections=64 "$@" "${keys[@]}" \
       > "$out/log.txt" 2>&1; then
    echo "faults_generator_shift: eval failed for '$name':" >&2
    cat "$out/log.txt" >&2
    exit 1
  fi
  # report.csv: the exact row (tolerance 0, with ROC AUC), then the tolerant row; column 3 is AP, 4 ROC AUC.
  awk -F, -v name="$name" 'NR == 2 { ap = $3; auroc = $4 } NR == 3 { printf "| %s | %s | %s | %s |\n", name, ap, auroc, $3 }' \
    "$out/eval/report.csv" | tee -a "$out/rows.txt"
  rm -rf "$out/eval"
done
# The first row is the own generator's; the mean is over the shifted rows after it.
awk -F'|' 'NR > 1 { ap += $3; tol += $5; n += 1 }
           END { printf "| mean of the %d shifted rows | %.3f | | %.3f |\n", n, ap / n, tol / n }' "$out/rows.txt"
