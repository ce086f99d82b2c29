#!/usr/bin/env bash
# Regenerates the figures of docs/ (docs/figures/*.png) from the trained models in zoo/ and the shipped configs:
# each figure is what a user gets from the command beside it. Training curves come from the zoo's run folders
# (runs/zoo/<name>/metrics.csv, written by scripts/make_zoo.sh); without them those figures are skipped.
#   STRATA_DATA=../shared/data scripts/make_figures.sh        (needs build/ with every app and strata-plot)
# About three minutes on 2 cores (most of it the CamVid model on 101 frames at six views).
set -euo pipefail
cd "$(dirname "$0")/.."
export STRATA_DATA="${STRATA_DATA:-data}"
out=docs/figures
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
bin=build/bin

take() {  # take SOURCE NAME: copies a written figure into docs/figures/NAME.png
  cp "$1" "$out/$2.png"
  echo "  $out/$2.png"
}
curves() {  # curves RUN PREFIX: the run's training curves, when make_zoo.sh's run folder is here
  if [[ -f "$1/metrics.csv" ]]; then
    "$bin/strata-plot" "$1" > /dev/null
    take "$1/loss.png" "$2_loss"
    [[ ! -f "$1/metrics.png" ]] || take "$1/metrics.png" "$2_metrics"
  else
    echo "  skipped $2 training curves: no $1/metrics.csv (scripts/make_zoo.sh writes it)"
  fi
}

echo "strata-welllog: the zoo model on its two held-out wells"
awk -F, 'NR == 1 || $3 == "SHRIMPLIN" || $3 == "CROSS H CATTLE"' "$STRATA_DATA/welllogs/facies_vectors.csv" > "$tmp/held_out.csv"
"$bin/strata-welllog" eval --checkpoint zoo/welllog_seg2016.safetensors --data "$tmp/held_out.csv" --out "$tmp/welllog" > /dev/null
take "$tmp/welllog/confusion.png" welllog_confusion
take "$tmp/welllog/wells/SHRIMPLIN.png" welllog_strip

echo "strata-segment: membranes and CamVid"
"$bin/strata-segment" eval --checkpoint zoo/segment_membrane.safetensors --out "$tmp/membrane" > /dev/null
take "$tmp/membrane/panels.png" segment_membrane_panels
curves runs/zoo/segment_membrane segment_membrane
"$bin/strata-segment" eval --checkpoint zoo/segment_camvid.safetensors --out "$tmp/camvid" > /dev/null
take "$tmp/camvid/confusion.png" segment_camvid_confusion
take "$tmp/camvid/panels.png" segment_camvid_panels
curves runs/zoo/segment_camvid segment_camvid

echo "strata-faults: generated sections, the zoo model on held-out sections and on a real survey"
"$bin/strata-faults" generate --config configs/faults_synthetic.yaml --output "$tmp/generated" --count 3 > /dev/null
take "$tmp/generated/panels.png" faults_generated
"$bin/strata-faults" eval --checkpoint zoo/faults_synthetic.safetensors --out "$tmp/faults" > /dev/null
take "$tmp/faults/pr.png" faults_pr
take "$tmp/faults/panels.png" faults_test_panels
curves runs/zoo/faults_synthetic faults
f3="$STRATA_DATA/seismic/segy/f3.sgy"
if [[ -f "$f3" ]]; then
  "$bin/strata-faults" predict --checkpoint zoo/faults_synthetic.safetensors --input "$f3" --output "$tmp/f3_prob.sgy" \
    --png "$tmp/f3" --sections 0 > /dev/null
  take "$tmp/f3/f3_inline_0.png" faults_f3_inline
else
  echo "  skipped the F3 section: no $f3 (scripts/get_data.sh)"
fi

echo "strata-anomaly: Fashion-MNIST (T-shirt normal) and the folder config (sneakers normal)"
"$bin/strata-anomaly" eval --checkpoint zoo/anomaly_fmnist_convae_dense.safetensors --out "$tmp/fmnist" > /dev/null
for f in rates scores roc panels; do take "$tmp/fmnist/$f.png" "anomaly_fmnist_$f"; done
folders="runs/zoo/anomaly_folders_fmnist7.data"
[[ -d "$folders" ]] || python3 scripts/fmnist_to_folders.py "$folders" 7 > /dev/null
"$bin/strata-anomaly" eval --checkpoint zoo/anomaly_folders_fmnist7.safetensors --data "$folders/test" \
  --out "$tmp/folders" > /dev/null
for f in rates scores panels; do take "$tmp/folders/$f.png" "anomaly_folders_$f"; done
