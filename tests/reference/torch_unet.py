"""strata's reference U-Net (models/unet.h) in PyTorch, with strata's
parameter names; used by make_model_reference.py and the train-step benchmark."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, conv, bn, cin, cout):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, padding=1)
        self.bn1 = bn(cout)
        self.conv2 = conv(cout, cout, 3, padding=1)
        self.bn2 = bn(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class UNet(nn.Module):
    """strata's UNet (models/unet.h) with transposed-conv upsampling."""

    def __init__(self, dims, cin, classes, base=16, depth=4):
        super().__init__()
        conv, bn, up, pool = {1: (nn.Conv1d, nn.BatchNorm1d, nn.ConvTranspose1d, nn.MaxPool1d),
                              2: (nn.Conv2d, nn.BatchNorm2d, nn.ConvTranspose2d, nn.MaxPool2d),
                              3: (nn.Conv3d, nn.BatchNorm3d, nn.ConvTranspose3d, nn.MaxPool3d)}[dims]
        w = [base * 2 ** i for i in range(depth + 1)]
        self.pool = pool(2)
        self.down = nn.ModuleList([ConvBlock(conv, bn, cin if i == 0 else w[i - 1], w[i]) for i in range(depth)])
        self.bottleneck = ConvBlock(conv, bn, w[depth - 1], w[depth])
        self.up = nn.ModuleList([up(w[i + 1], w[i], 2, stride=2) for i in range(depth)])
        self.dec = nn.ModuleList([ConvBlock(conv, bn, 2 * w[i], w[i]) for i in range(depth)])
        self.head = conv(w[0], classes, 1)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for i in reversed(range(len(self.up))):
            x = self.dec[i](torch.cat([skips[i], self.up[i](x)], 1))
        return self.head(x)
