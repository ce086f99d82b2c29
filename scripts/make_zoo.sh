#!/usr/bin/env bash
# Builds zoo/: a trained model for each main config, weights only (strata-weights safetensors), in float16 where
# that moves the held-out figure by at most 0.002 (else float32), each carrying its config, the command that
# trained it, the commit, and the held-out figure it reproduces with `strata-APP eval` (tests/test_zoo.cpp
# checks that figure on every CI run).
#
#   scripts/make_zoo.sh [NAME ...]      NAME: welllog_seg2016 segment_membrane segment_camvid
#                                       anomaly_fmnist_convae_dense anomaly_fmnist_ae_transforms
#                                       anomaly_folders_fmnist7 faults_synthetic
#                                       (default: all)
#
# A run already in runs/zoo/NAME (best.safetensors) is used as it is; otherwise the config is trained there.
# Needs the well-log, membrane and CamVid data under $STRATA_DATA (scripts/get_data.sh), and a Release build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
names=("$@")
((${#names[@]})) || names=(welllog_seg2016 segment_membrane segment_camvid anomaly_fmnist_convae_dense
                           anomaly_fmnist_ae_transforms anomaly_folders_fmnist7 faults_synthetic)
commit="${ZOO_COMMIT:-$(git rev-parse --short HEAD)}"
mkdir -p zoo

# The held-out figure of an eval folder: FILE:KEY, a "metric,value" file or a table's first row.
figure() {
  python3 - "$1/${2%%:*}" "${2#*:}" <<'PY'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r and not r[0].startswith("#")]
key = sys.argv[2]
if rows[0][:2] == ["metric", "value"]:
    print(next(r[1] for r in rows[1:] if r[0] == key))
else:
    print(rows[1][rows[0].index(key)])
PY
}

for name in "${names[@]}"; do
  held_out="" config="$name" prepare="" eval_data="" recipe=()
  case "$name" in
    welllog_seg2016) app=welllog metric=metrics.csv:accuracy held_out="SHRIMPLIN|CROSS H CATTLE"
      # The table's model trains without the held-out wells and is scored on them alone.
      recipe=("data.val_wells=[${held_out//|/, }]" train.monitor=train_loss)
      what="accuracy on wells SHRIMPLIN and CROSS H CATTLE (held out, best epochs by training loss)" ;;
    segment_membrane) app=segment metric=metrics.csv:accuracy what="pixel accuracy on the held-out 30% (9 images)" ;;
    segment_camvid) app=segment metric=metrics.csv:miou
      # The shipped config trains on training + validation frames; the zoo model leaves the validation frames
      # out (the same steps over the 367 training frames) so that it has a held-out figure.
      recipe=("data.train_list=\${STRATA_DATA}/camvid/train.txt" "data.val_list=\${STRATA_DATA}/camvid/val.txt"
              train.epochs=120)
      what="mean IoU of the 11 classes on the 101 CamVid validation images at 480 x 360" ;;
    anomaly_fmnist_convae_dense | anomaly_fmnist_ae_transforms) app=anomaly metric=report.csv:auroc
      what="test AUROC with Fashion-MNIST class 0 (T-shirt/top) as normal" ;;
    anomaly_folders_fmnist7) app=anomaly config=anomaly_folders metric=report.csv:auroc
      # The folder config's architecture on real images: Fashion-MNIST exported as folders ({dir}: a folder the
      # model's test reproduces them in), sneakers normal.
      prepare="scripts/fmnist_to_folders.py {dir} 7" eval_data="{dir}/test"
      what="test AUROC of the folder config on Fashion-MNIST exported as folders, sneakers (class 7) normal" ;;
    faults_synthetic) app=faults metric=report.csv:ap what="exact-pixel AP on the held-out synthetic test sections" ;;
    *) echo "make_zoo: unknown model $name" >&2; exit 2 ;;
  esac
  run="runs/zoo/$name" command="build/bin/strata-$app train --config configs/$config.yaml"
  args=()
  if [[ -n "$prepare" ]]; then  # data made by a script: train from it, score its eval_data
    [[ -d "$run.data" ]] || ${prepare//\{dir\}/$run.data} > /dev/null
    args=("data.train=$run.data/train" "data.val=$run.data/val" "data.test=$run.data/test")
    command="${prepare//\{dir\}/DIR} && $command data.train=DIR/train data.val=DIR/val data.test=DIR/test"
  fi
  if ((${#recipe[@]})); then  # overrides that hold data out of the shipped config's training
    args=("${recipe[@]}")
    command="$command$(printf " '%s'" "${recipe[@]}")"
  fi
  [[ -f "$run/best.safetensors" ]] ||
    build/bin/strata-$app train --config "configs/$config.yaml" "${args[@]}" --out "$run"
  data=()
  [[ -z "$eval_data" ]] || data=(--data "${eval_data//\{dir\}/$run.data}")
  if [[ -n "$held_out" ]]; then
    awk -F, -v wells="$held_out" 'BEGIN { n = split(wells, w, "|"); for (i = 1; i <= n; i++) keep[w[i]] = 1 }
      NR == 1 || ($3 in keep)' "${STRATA_DATA:-data}/welllogs/facies_vectors.csv" > "$run/held_out.csv"
    data=(--data "$run/held_out.csv")
  fi
  build/bin/strata-$app eval --checkpoint "$run/best.safetensors" "${data[@]}" --out "$run/eval_f32" > /dev/null
  full=$(figure "$run/eval_f32" "$metric")
  precision=f16
  build/bin/strata-$app export --checkpoint "$run/best.safetensors" --format safetensors --precision f16 \
    --output "$run/half.safetensors" > /dev/null
  build/bin/strata-$app eval --checkpoint "$run/half.safetensors" "${data[@]}" --out "$run/eval_f16" > /dev/null
  half=$(figure "$run/eval_f16" "$metric")
  if python3 -c "import sys; sys.exit(abs($half - $full) > 0.002)"; then value=$half; else precision=f32 value=$full; fi
  build/bin/strata-$app export --checkpoint "$run/best.safetensors" --format safetensors --precision $precision \
    --output "zoo/$name.safetensors" \
    --metadata "zoo.name=$name;zoo.config=configs/$config.yaml;zoo.command=$command;zoo.commit=$commit;zoo.metric=$metric;zoo.figure=$value;zoo.figure_f32=$full;zoo.what=$what;zoo.held_out_wells=$held_out;zoo.prepare=$prepare;zoo.eval_data=$eval_data" \
    > /dev/null
  # Data paths inside the model's config name the data root as ${STRATA_DATA}, not this machine's folder.
  python3 - "zoo/$name.safetensors" "${STRATA_DATA:-data}" <<'PY'
import json, struct, sys
path, root = sys.argv[1], sys.argv[2].rstrip("/") + "/"
blob = open(path, "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
meta = header.get("__metadata__", {})
for key, value in meta.items():
    if key.endswith(".config"):
        meta[key] = value.replace(root, "${STRATA_DATA}/")
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + blob[8 + n:])
PY
  printf '%s: %s %s = %s (%s; float32 %s), %s bytes\n' "$name" "$what" "${metric#*:}" "$value" "$precision" "$full" \
    "$(stat -c %s "zoo/$name.safetensors")"
done
