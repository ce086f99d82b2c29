"""strata's EncoderUNet (models/encoder_unet.h) in PyTorch: torchvision's
`features` as the encoder, and the same decoder (per 2x step a 2x2 stride-2
transposed conv, then a ConvBlock on cat(skip, up)) and 1x1 head. Used by the
train-step benchmark (benchmarks/torch_train_step.py)."""
import torch
import torch.nn as nn
import torchvision

from torch_unet import ConvBlock


class EncoderUNet(nn.Module):
    def __init__(self, arch, classes=1, input_skip=False, in_channels=3):
        super().__init__()
        self.input_skip = input_skip
        # As in strata (models/encoder_unet.h), the encoder's layers are encoder.features.N: a weights-only strata
        # export (APP export --format safetensors) loads with strict=True.
        self.encoder = nn.Module()
        if arch == "mobilenet_v2":
            self.encoder.features = torchvision.models.mobilenet_v2(weights=None).features
            self.taps, channels, extra = [1, 3, 6, 13, 18], [16, 24, 32, 96, 1280], True
        else:
            vgg = torchvision.models.vgg16_bn if arch == "vgg16_bn" else torchvision.models.vgg16
            self.encoder.features = vgg(weights=None).features
            self.taps, channels, extra = None, [64, 128, 256, 512, 512], False
        if in_channels != 3:  # as strata's encoders for in_channels != 3: the first convolution takes them
            first = self.features[0][0] if arch == "mobilenet_v2" else self.features[0]
            conv = nn.Conv2d(in_channels, first.out_channels, first.kernel_size, first.stride, first.padding,
                             bias=first.bias is not None)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out")
            if arch == "mobilenet_v2":
                self.features[0][0] = conv
            else:
                self.features[0] = conv
        skips = channels[:-1]
        widths = list(reversed(skips)) + ([max(channels[0] // 2, 8)] if extra else [])
        self.up, self.dec = nn.ModuleList(), nn.ModuleList()
        cin = channels[-1]
        for j, w in enumerate(widths):
            skip = skips[len(skips) - 1 - j] if j < len(skips) else (in_channels if input_skip else 0)
            self.up.append(nn.ConvTranspose2d(cin, w, 2, stride=2))
            self.dec.append(ConvBlock(nn.Conv2d, nn.BatchNorm2d, w + skip, w))
            cin = w
        self.head = nn.Conv2d(cin, classes, 1)

    @property
    def features(self):
        return self.encoder.features

    def stages(self, x):
        out = []
        if self.taps is not None:
            for i, layer in enumerate(self.features):
                x = layer(x)
                if i in self.taps:
                    out.append(x)
                    if len(out) == len(self.taps):
                        break
            return out
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                out.append(x)
                if len(out) == 5:
                    break
            x = layer(x)
        return out

    def forward(self, x):
        stages = self.stages(x)
        n_skips = len(stages) - 1
        y = stages[-1]
        for j in range(len(self.up)):
            y = self.up[j](y)
            if j < n_skips:
                y = self.dec[j](torch.cat([stages[n_skips - 1 - j], y], 1))
            else:
                y = self.dec[j](torch.cat([x, y], 1) if self.input_skip else y)
        return self.head(y)
