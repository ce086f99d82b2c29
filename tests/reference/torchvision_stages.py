#!/usr/bin/env python3
"""For test_segment's TorchvisionEncoders tests: a seeded random torchvision
encoder exported by scripts/export_torchvision_weights.py (OUT/weights.safetensors)
and its five stage outputs in eval mode for a seeded input (OUT/stages.safetensors:
input, stage0 .. stage4). Usage: torchvision_stages.py ARCH SIZE OUT"""
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
sys.path.insert(0, here)
import export_torchvision_weights as export  # noqa: E402
import safetensors_io  # noqa: E402

arch, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = export.build(arch, random_seed=7)
export.export(model, os.path.join(out, "weights.safetensors"))
torch.manual_seed(11)
x = torch.randn(1, 3, size, size)
features = model.features
stages, y = [], x
with torch.no_grad():
    if arch == "mobilenet_v2":
        taps = {1, 3, 6, 13, 18}  # strata's MobileNetV2Encoder stages
        for i, layer in enumerate(features):
            y = layer(y)
            if i in taps:
                stages.append(y)
    else:  # VGG: the input of each of the first five max-pools
        for layer in features:
            if isinstance(layer, torch.nn.MaxPool2d):
                stages.append(y)
                if len(stages) == 5:
                    break
            y = layer(y)
arrays = {"input": x}
arrays.update({f"stage{i}": s for i, s in enumerate(stages)})
safetensors_io.save(arrays, os.path.join(out, "stages.safetensors"))
print("stages:", [tuple(s.shape) for s in stages])
