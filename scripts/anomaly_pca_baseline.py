#!/usr/bin/env python3
"""A PCA baseline for a folder anomaly set (the layout configs/anomaly_folders.yaml reads): principal components of
the training images, the score of an image its squared reconstruction error from the leading k. Prints the test
AUROC for several k, to compare with `strata-anomaly eval` on the same folders.

    scripts/anomaly_pca_baseline.py DIR [SIZE (64)] [L | RGB (RGB)]

DIR holds train/ (normal images, read recursively) and test/normal/, test/anomalous/. Every image is resized to
SIZE x SIZE (bilinear) and converted to grey (L) or RGB, as the folder config does. Needs numpy and Pillow."""
import glob
import os
import sys

import numpy as np
from PIL import Image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def load(folder, size, mode):
    files = sorted(f for f in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                   if f.lower().endswith(EXTENSIONS))
    if not files:
        sys.exit(f"{folder}: no images")
    return np.stack([np.asarray(Image.open(f).convert(mode).resize((size, size), Image.BILINEAR), np.float32).ravel()
                     / 255 for f in files])


def auroc(normal, anomalous):
    """The chance that an anomalous image scores above a normal one (ties count half)."""
    scores = np.concatenate([normal, anomalous])
    order = scores.argsort()
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n, a = len(normal), len(anomalous)
    return (ranks[n:].sum() - a * (a + 1) / 2) / (n * a)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    mode = sys.argv[3] if len(sys.argv) > 3 else "RGB"
    train = load(os.path.join(root, "train"), size, mode)
    normal = load(os.path.join(root, "test", "normal"), size, mode)
    anomalous = load(os.path.join(root, "test", "anomalous"), size, mode)
    mean = train.mean(0)
    _, s, vt = np.linalg.svd(train - mean, full_matrices=False)
    explained = np.cumsum(s ** 2) / (s ** 2).sum()
    print(f"{root}: {len(train)} training, {len(normal)} normal and {len(anomalous)} anomalous test images, "
          f"{size} x {size} {mode}")
    for name, k in [("k = 8", 8), ("k = 16", 16), ("k = 32", 32), ("k = 64", 64)] + [
            (f"{p:.0%} of the variance", int(np.searchsorted(explained, p)) + 1) for p in (0.90, 0.95, 0.99)]:
        v = vt[:min(k, len(vt))]

        def error(x):
            d = x - mean
            return ((d - (d @ v.T) @ v) ** 2).mean(1)

        print(f"  {name:22s} ({len(v):3d} components): test AUROC {auroc(error(normal), error(anomalous)):.4f}")


if __name__ == "__main__":
    main()
