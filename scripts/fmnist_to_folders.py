#!/usr/bin/env python3
"""Exports a Fashion-MNIST one-class split as image folders (PNG), the layout
configs/anomaly_folders.yaml reads, for trying the folder pipeline on real
images:
    OUT/train/normal/*.png                 class K, training file
    OUT/val/{normal,anomalous}/*.png       training file, images not in train/
    OUT/test/{normal,anomalous}/*.png      the official test file
Usage: scripts/fmnist_to_folders.py OUT [K (7)] [train (1000)] [val per kind (100)] [test per kind (300)]
Needs only the Python standard library and Fashion-MNIST ($STRATA_DATA/fashion-mnist, or dataset-fashion-mnist)."""
import gzip, os, random, struct, sys, zlib

# The data root's copy (scripts/get_data.sh fashion-mnist) when there is one, else Debian's dataset-fashion-mnist.
ROOT = os.path.join(os.environ.get("STRATA_DATA") or "data", "fashion-mnist")
if not os.path.isdir(ROOT):
    ROOT = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path) as f:
        data = f.read()
    zero, kind, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 8:
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def write_png(path, pixels, width, height):
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    k, n_train, n_val, n_test = (int(a) for a in (sys.argv[2:] + ["7", "1000", "100", "300"][len(sys.argv) - 2:])[:4])
    rng = random.Random(1)
    sets = {}
    for name, prefix in (("train", "train"), ("test", "t10k")):
        (n, h, w), images = read_idx(f"{ROOT}/{prefix}-images-idx3-ubyte.gz")
        _, labels = read_idx(f"{ROOT}/{prefix}-labels-idx1-ubyte.gz")
        sets[name] = (h, w, [(images[i * h * w:(i + 1) * h * w], labels[i]) for i in range(n)])
    h, w, train = sets["train"]
    normal = [i for i, (_, c) in enumerate(train) if c == k]
    other = [i for i, (_, c) in enumerate(train) if c != k]
    rng.shuffle(normal)
    rng.shuffle(other)
    plan = {("train", "normal"): (train, normal[:n_train]), ("val", "normal"): (train, normal[n_train:n_train + n_val]),
            ("val", "anomalous"): (train, other[:n_val])}
    _, _, test = sets["test"]
    t_normal = [i for i, (_, c) in enumerate(test) if c == k]
    t_other = [i for i, (_, c) in enumerate(test) if c != k]
    rng.shuffle(t_normal)
    rng.shuffle(t_other)
    plan[("test", "normal")] = (test, t_normal[:n_test])
    plan[("test", "anomalous")] = (test, t_other[:n_test])
    for (split, kind), (source, idx) in plan.items():
        os.makedirs(f"{out}/{split}/{kind}", exist_ok=True)
        for i in idx:
            write_png(f"{out}/{split}/{kind}/{i:05d}.png", source[i][0], w, h)
        print(f"{out}/{split}/{kind}: {len(idx)} images")


main()
