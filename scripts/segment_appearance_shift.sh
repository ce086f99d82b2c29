#!/usr/bin/env bash
# How a binary strata-segment checkpoint holds up on images that look different from its training images
# (another microscope, scanner or exposure): `eval` on its config's validation images, then on copies of the
# whole image folder with one photometric change each (contrast, brightness, gamma, blur, noise; masks
# unchanged, so the same files fall in the validation split). Prints one markdown row per change: pixel
# accuracy, IoU of each class, mean IoU. docs/segment.md, "New images that look different".
#   scripts/segment_appearance_shift.sh runs/segment_membrane/best.safetensors [key=value ...]
# Needs /usr/bin/python3 (Debian's) with numpy and PIL (Debian: python3-numpy python3-pil; scripts/install_deps.sh --torch has both).
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 CHECKPOINT [key=value ...]" >&2; exit 2; }
[[ -f $1 ]] || { echo "segment_appearance_shift: $1: no such checkpoint" >&2; exit 1; }
ckpt=$(realpath "$1")
shift
cd "$(dirname "$0")/.."
bin=build/bin/strata-segment
[[ -x "$bin" ]] || { echo "segment_appearance_shift: $bin not found; build first" >&2; exit 1; }
config=$(dirname "$ckpt")/config.yaml
[[ -f "$config" ]] || { echo "segment_appearance_shift: $config not found (the run folder of $ckpt)" >&2; exit 1; }
# The image and mask folders of the checkpoint's run (data.images / data.masks, resolved against its config).
read -r images masks < <(/usr/bin/python3 - "$config" <<'EOF'
import os, re, sys
cfg = sys.argv[1]
text = open(cfg).read()
def key(name):
    m = re.search(r"^\s+" + name + r":\s*(\S+)\s*$", text, re.M)
    if not m:
        sys.exit(f"segment_appearance_shift: {cfg} has no data.{name} folder (list-file datasets are not supported)")
    return m.group(1).strip("'\"")
print(key("images"), key("masks"))
EOF
)
[[ -d "$images" && -d "$masks" ]] || { echo "segment_appearance_shift: $images or $masks is not a folder" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
shifts=(own contrast_0.6 contrast_1.5 brighter_0.15 darker_0.15 gamma_0.6 gamma_1.6 blur_1 noise_0.05 noise_0.10)
/usr/bin/python3 - "$images" "$out" "${shifts[@]:1}" <<'EOF'
import os, sys
import numpy as np
from PIL import Image, ImageFilter
src, out, shifts = sys.argv[1], sys.argv[2], sys.argv[3:]
rng = np.random.default_rng(0)
def change(name, im):
    kind, amount = name.rsplit("_", 1)
    a = float(amount)
    if kind == "blur":
        return np.asarray(im.filter(ImageFilter.GaussianBlur(a)), dtype=np.float64) / 255
    x = np.asarray(im, dtype=np.float64) / 255
    if kind == "contrast":
        return x.mean() + (x - x.mean()) * a
    if kind == "brighter":
        return x + a
    if kind == "darker":
        return x - a
    if kind == "gamma":
        return x ** a
    if kind == "noise":
        return x + rng.normal(0, a, x.shape)
    sys.exit(f"unknown change {name}")
for name in shifts:
    os.makedirs(f"{out}/{name}")
    for f in sorted(os.listdir(src)):
        im = Image.open(os.path.join(src, f))
        mode = "L" if im.mode in ("L", "LA", "I", "I;16", "P") else "RGB"
        x = change(name, im.convert(mode))
        Image.fromarray((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)).save(f"{out}/{name}/{os.path.splitext(f)[0]}.png")
EOF
echo "| images | accuracy | IoU per class | mean IoU |"
echo "|---|---|---|---|"
for s in "${shifts[@]}"; do
  args=()
  [[ $s == own ]] || args=("data.images=$out/$s" "data.masks=$masks")
  if ! "$bin" eval --checkpoint "$ckpt" --out "$out/eval" "$@" "${args[@]}" > "$out/log.txt" 2>&1; then
    echo "segment_appearance_shift: eval failed for '$s':" >&2
    cat "$out/log.txt" >&2
    exit 1
  fi
  awk -F, -v name="$s" '$1 == "accuracy" { acc = $2 } $1 == "miou" { miou = $2 }
    $1 ~ /^iou_/ { per = per sprintf("%s%s %.4f", per == "" ? "" : ", ", substr($1, 5), $2) }
    END { printf "| %s | %.4f | %s | %.4f |\n", name, acc, per, miou }' "$out/eval/metrics.csv"
  rm -rf "$out/eval"
done
