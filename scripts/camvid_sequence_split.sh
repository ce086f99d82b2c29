#!/usr/bin/env bash
# CamVid split by sequence, for choosing a recipe on a sequence the model has not seen.
#
# SegNet's validation images (101 frames of sequence 0016E5) come from the sequence that also gives 204 of the
# 367 training frames, so a model scored on them is scored on frames next to ones it trained on. This script
# writes two list files that strata-segment takes as data.train_list / data.val_list:
#   OUT/train_seq.txt   training + validation frames of every sequence but HELD (367 frames for 0006R0)
#   OUT/val_seq.txt     every frame of sequence HELD (101 for 0006R0)
# SegNet's test split is left alone: it is the held-out check, never a validation set.
#
#   scripts/camvid_sequence_split.sh [--held SEQ] [--data DIR] [OUT]
#     SEQ: 0006R0 (default), 0001TP or 0016E5; DIR: the CamVid folder (default ${STRATA_DATA:-data}/camvid);
#     OUT: default runs/camvid_sequence_split
#   build/bin/strata-segment train --config configs/segment_camvid.yaml \
#       data.train_list=OUT/train_seq.txt data.val_list=OUT/val_seq.txt train.epochs=120
set -euo pipefail

held=0006R0
data="${STRATA_DATA:-data}/camvid"
out=runs/camvid_sequence_split
while [ $# -gt 0 ]; do
  case "$1" in
    --held) held="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "camvid_sequence_split.sh: unknown flag '$1' (--held SEQ, --data DIR)" >&2; exit 2 ;;
    *) out="$1"; shift ;;
  esac
done
for list in train.txt val.txt; do
  [ -f "$data/$list" ] || { echo "camvid_sequence_split.sh: no $data/$list (get it with scripts/get_data.sh camvid)" >&2; exit 1; }
done
root=$(cd "$data" && pwd)
mkdir -p "$out"
# Lines are 'IMAGE MASK' relative to the CamVid folder; written absolute so the lists work from anywhere.
absolute() { awk -v root="$root" 'NF == 2 { print root "/" $1, root "/" $2 }'; }
cat "$data/train.txt" "$data/val.txt" | absolute > "$out/all.tmp"
grep -v "/${held}_" "$out/all.tmp" > "$out/train_seq.txt" || true
grep "/${held}_" "$out/all.tmp" > "$out/val_seq.txt" || true
rm -f "$out/all.tmp"
n_train=$(wc -l < "$out/train_seq.txt")
n_val=$(wc -l < "$out/val_seq.txt")
[ "$n_val" -gt 0 ] || { echo "camvid_sequence_split.sh: no frame of sequence '$held' in $data (sequences: $(cat "$data/train.txt" "$data/val.txt" | sed -n 's|^[^/]*/\([^_]*\)_.*|\1|p' | sort -u | tr '\n' ' '))" >&2; exit 1; }
echo "$out/train_seq.txt: $n_train frames (every sequence but $held)"
echo "$out/val_seq.txt: $n_val frames (sequence $held)"
