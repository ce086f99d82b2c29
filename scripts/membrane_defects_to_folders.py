#!/usr/bin/env python3
"""A texture anomaly set in the folder layout configs/anomaly_folders.yaml reads, from the ISBI membrane images:
128 x 128 crops, the anomalous ones carrying one drawn defect (a scratch; a blurred, stained or noisy disc; a
patch of the texture turned and rescaled), as surface-inspection data looks.

    scripts/membrane_defects_to_folders.py OUT [SEED (0)]

Writes OUT/train/normal (400 crops of images 0-19), OUT/val/{normal,anomalous} (100 + 100, images 20-24) and
OUT/test/{normal,anomalous} (200 + 200, images 25-29). Needs numpy, Pillow and $STRATA_DATA/membrane/image."""
import glob
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 128


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    root = os.path.join(os.environ.get("STRATA_DATA") or "data", "membrane", "image")
    files = sorted(glob.glob(os.path.join(root, "*.png")), key=lambda f: int(os.path.basename(f)[:-4]))
    if len(files) != 30:
        sys.exit(f"{root}: want the 30 membrane images (scripts/get_data.sh membrane), found {len(files)}")
    images = [Image.open(f).convert("L") for f in files]

    def crop(image):
        x, y = rng.integers(0, image.width - SIZE), rng.integers(0, image.height - SIZE)
        return image.crop((x, y, x + SIZE, y + SIZE))

    def defect(c):
        kind = rng.integers(0, 5)
        a = np.asarray(c, np.float32)
        cx, cy, r = rng.integers(24, SIZE - 24), rng.integers(24, SIZE - 24), rng.integers(8, 20)
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        if kind == 0:  # a dark or bright scratch
            scratched = c.copy()
            ImageDraw.Draw(scratched).line([tuple(rng.integers(0, SIZE, 2)), tuple(rng.integers(0, SIZE, 2))],
                                           fill=int(rng.choice([20, 235])), width=int(rng.integers(2, 5)))
            return scratched
        if kind == 1:  # out of focus
            a[disc] = np.asarray(c.filter(ImageFilter.GaussianBlur(4)), np.float32)[disc]
        elif kind == 2:  # a stain, darker or brighter
            a[disc] = np.clip(a[disc] * rng.uniform(0.4, 0.6) + rng.choice([0, 120]), 0, 255)
        elif kind == 3:  # noise
            a[disc] = rng.uniform(0, 255, disc.sum())
        else:  # the texture turned a quarter and rescaled
            turned = c.rotate(90).resize((SIZE * 2, SIZE * 2)).crop((SIZE // 2, SIZE // 2, SIZE // 2 + SIZE,
                                                                    SIZE // 2 + SIZE))
            a[disc] = np.asarray(turned, np.float32)[disc]
        return Image.fromarray(a.astype(np.uint8))

    def write(folder, pool, count, anomalous):
        os.makedirs(folder, exist_ok=True)
        for i in range(count):
            c = crop(pool[rng.integers(0, len(pool))])
            (defect(c) if anomalous else c).save(os.path.join(folder, f"{i:04d}.png"))

    train, val, test = images[:20], images[20:25], images[25:]
    write(os.path.join(out, "train", "normal"), train, 400, False)
    write(os.path.join(out, "val", "normal"), val, 100, False)
    write(os.path.join(out, "val", "anomalous"), val, 100, True)
    write(os.path.join(out, "test", "normal"), test, 200, False)
    write(os.path.join(out, "test", "anomalous"), test, 200, True)


if __name__ == "__main__":
    main()
