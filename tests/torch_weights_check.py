"""A strata weights-only export (`APP export --format safetensors`, f32 or f16) loads into strata's reference
models in PyTorch (tests/reference/torch_unet.py, torch_encoder_unet.py: strata's parameter names) with
strict=True, and gives strata's output on the same input within 1e-4 (relative to max(1, |value|)).

    /usr/bin/python3 tests/torch_weights_check.py MODEL WEIGHTS INPUT.npy OUTPUT.npy
    MODEL: unet:DIMS:IN_CHANNELS:CLASSES:BASE:DEPTH or encoder:ARCH:IN_CHANNELS:CLASSES:INPUT_SKIP
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import safetensors_io  # noqa: E402
from torch_encoder_unet import EncoderUNet  # noqa: E402
from torch_unet import UNet  # noqa: E402


def main():
    kind, *spec = sys.argv[1].split(":")
    weights, inputs, expected = sys.argv[2:5]
    arrays, meta = safetensors_io.load(weights)
    if kind == "unet":
        model = UNet(*(int(v) for v in spec))
    else:
        arch, cin, classes, input_skip = spec
        model = EncoderUNet(arch, classes=int(classes), input_skip=input_skip == "1", in_channels=int(cin))
    state = {k: torch.from_numpy(np.array(v, dtype=np.int64 if v.dtype == np.int64 else np.float32)) for k, v in arrays.items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(np.load(inputs))).numpy()
    want = np.load(expected)
    err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
    ok = got.shape == want.shape and err <= 1e-4
    print(f"{os.path.basename(weights)}: strict load of {len(state)} tensors; max difference from strata {err:.2e} "
          f"{'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
