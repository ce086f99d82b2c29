#!/usr/bin/env python3
"""K-fold cross-validation of a strata-segment config inside its training images, so that a choice between
configs is made without the held-out (test) images.

  python3 scripts/segment_cv.py --config configs/segment_membrane.yaml --split runs/membrane --folds 3 \\
      --out runs/cv_default [-- OVERRIDE ...]

--split is a finished or started `strata-segment train` run of the same config: its train_list.txt (the training
side of the config's own split) is cut into --folds seeded folds; each fold is scored by a run that trains on the
others (data.train_list / data.val_list point at the fold's list files, so the held-out images are never read).
Every run keeps the config's checkpoint rule (train.monitor). Writes OUT/fold_K/ (a run each) and OUT/cv.csv
(one row per fold and the mean / standard deviation), and prints them. Standard library only."""
import argparse
import csv
import os
import random
import statistics
import subprocess
import sys


def read_pairs(path):
    base = os.path.dirname(os.path.abspath(path))
    pairs = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and not parts[0].startswith("#"):
                pairs.append(tuple(os.path.normpath(os.path.join(base, p)) for p in parts))
    return pairs


def write_pairs(path, pairs):
    base = os.path.dirname(os.path.abspath(path))
    with open(path, "w") as f:
        for image, mask in pairs:
            f.write(f"{os.path.relpath(image, base)} {os.path.relpath(mask, base)}\n")


def read_metrics(path):
    with open(path) as f:
        return {row[0]: row[1] for row in csv.reader(line for line in f if not line.startswith("#"))
                if len(row) == 2 and row[0] != "metric"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--split", required=True, help="a strata-segment run folder holding train_list.txt")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1, help="seeds the assignment of images to folds")
    ap.add_argument("--out", required=True)
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bin",
                                                      "strata-segment"))
    ap.add_argument("--reuse", action="store_true",
                    help="take a fold's scores from an earlier run in OUT (same config and overrides) instead of training")
    ap.add_argument("overrides", nargs="*", help="config overrides for every fold run (after --)")
    a = ap.parse_args()
    train_list = os.path.join(a.split, "train_list.txt")
    if not os.path.isfile(train_list):
        sys.exit(f"{train_list}: no such file (give a strata-segment run folder of this config as --split)")
    pairs = read_pairs(train_list)
    if not 2 <= a.folds <= len(pairs):
        sys.exit(f"--folds {a.folds}: needs 2 .. {len(pairs)} (the images in {train_list})")
    order = list(range(len(pairs)))
    random.Random(a.seed).shuffle(order)
    folds = [sorted(order[k::a.folds]) for k in range(a.folds)]
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for k, held in enumerate(folds):
        run = os.path.join(a.out, f"fold_{k + 1}")
        lists = os.path.join(a.out, f"fold_{k + 1}_lists")
        os.makedirs(lists, exist_ok=True)
        write_pairs(os.path.join(lists, "train.txt"), [pairs[i] for i in range(len(pairs)) if i not in held])
        write_pairs(os.path.join(lists, "val.txt"), [pairs[i] for i in held])
        cmd = [a.binary, "train", "--config", a.config, "--out", run,
               f"data.train_list={os.path.join(lists, 'train.txt')}", f"data.val_list={os.path.join(lists, 'val.txt')}",
               "data.val_fraction=0", *a.overrides]
        print(f"fold {k + 1}/{a.folds}: {len(pairs) - len(held)} training / {len(held)} validation images: "
              + " ".join(cmd), flush=True)
        if a.reuse and os.path.isfile(os.path.join(run, "val_metrics.csv")):
            print(f"fold {k + 1}: scores of the earlier run in {run}", flush=True)
        else:
            subprocess.run(cmd, check=True)
        rows.append({key: float(v) for key, v in read_metrics(os.path.join(run, "val_metrics.csv")).items()
                     if key != "images"})
    keys = [key for key in rows[0] if all(key in r for r in rows)]
    means = {key: statistics.mean(r[key] for r in rows) for key in keys}
    sds = {key: statistics.stdev(r[key] for r in rows) for key in keys}
    with open(os.path.join(a.out, "cv.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fold", *keys])
        for k, r in enumerate(rows):
            w.writerow([k + 1] + [f"{r[key]:.6f}" for key in keys])
        w.writerow(["mean"] + [f"{means[key]:.6f}" for key in keys])
        w.writerow(["sd"] + [f"{sds[key]:.6f}" for key in keys])
    for k, r in enumerate(rows):
        print(f"fold {k + 1}: accuracy {r['accuracy']:.4f}, mean IoU {r['miou']:.4f}")
    print(f"{a.folds}-fold CV over {len(pairs)} images: accuracy {means['accuracy']:.4f} +- {sds['accuracy']:.4f}, "
          f"mean IoU {means['miou']:.4f} +- {sds['miou']:.4f} ({os.path.join(a.out, 'cv.csv')})")


if __name__ == "__main__":
    main()
