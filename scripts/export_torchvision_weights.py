#!/usr/bin/env python3
"""Writes the `features` weights of a torchvision classifier as a safetensors
file with torchvision's names (features.0.weight, ...), which strata loads with
`model.encoder_weights: FILE` (unet_vgg16, unet_mobilenetv2):

    scripts/export_torchvision_weights.py vgg16|vgg16_bn|mobilenet_v2 OUT.safetensors [--random-init SEED]

Without --random-init torchvision's ImageNet weights are used: torchvision
downloads them on first use, so run it on a machine that has them (or can fetch
them) and copy OUT.safetensors over. --random-init SEED exports a seeded,
randomly initialised network instead (no download): strata's tests use it to
check that strata computes what torchvision computes."""
import argparse
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import safetensors_io  # noqa: E402

ARCHS = {"vgg16": torchvision.models.vgg16, "vgg16_bn": torchvision.models.vgg16_bn,
         "mobilenet_v2": torchvision.models.mobilenet_v2}


def build(arch, random_seed=None):
    """The torchvision model: pretrained, or seeded random with randomised batch-norm statistics."""
    if random_seed is None:
        return ARCHS[arch](weights="DEFAULT").eval()
    torch.manual_seed(random_seed)
    model = ARCHS[arch](weights=None)
    with torch.no_grad():  # fresh batch norms are the identity in eval mode: give them real statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return model.eval()


def export(model, path):
    """features.* of the state_dict (the classifier is not part of a U-Net encoder)."""
    state = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
    safetensors_io.save(state, path, {"source": "torchvision " + torchvision.__version__})
    return len(state)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("arch", choices=sorted(ARCHS))
    p.add_argument("out")
    p.add_argument("--random-init", type=int, metavar="SEED", default=None)
    a = p.parse_args()
    n = export(build(a.arch, a.random_init), a.out)
    print(f"wrote {a.out}: {n} tensors of {a.arch}.features")


if __name__ == "__main__":
    main()
