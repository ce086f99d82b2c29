"""Minimal safetensors reading and writing with numpy only (no safetensors
package needed): 8-byte little-endian header length, JSON header mapping each
name to {dtype, shape, data_offsets}, optional "__metadata__", then the data.

    python3 tests/reference/safetensors_io.py FILE   lists a file (e.g. a strata checkpoint)
"""
import json
import struct
import sys

import numpy as np

NUMPY = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}
TAGS = {np.dtype(v): k for k, v in NUMPY.items() if k != "BOOL"}


def load(path):
    """Returns ({name: numpy array}, {metadata key: value})."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    arrays = {}
    for name, h in header.items():
        begin, end = h["data_offsets"]
        arrays[name] = np.frombuffer(data[begin:end], dtype=NUMPY[h["dtype"]]).reshape(h["shape"])
    return arrays, meta


def save(arrays, path, metadata=None):
    """arrays: {name: numpy array or torch tensor}; names are written sorted."""
    header, blobs, offset = {}, [], 0
    for name in sorted(arrays):
        a = arrays[name]
        a = np.array(a.detach().cpu().numpy() if hasattr(a, "detach") else a, order="C")  # keeps 0-d shapes
        blob = a.tobytes()
        header[name] = {"dtype": TAGS[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    arrays, meta = load(sys.argv[1])
    for key in sorted(meta):
        print(f"meta {key} = {meta[key][:60]!r}")
    for name in sorted(arrays):
        a = arrays[name]
        print(f"{name} {a.dtype} {list(a.shape)} sum={float(a.astype(np.float64).sum()):.6g}")
