"""MobileFaceNet (Chen et al. 2018) laid out so foamliu/MobileFaceNet's state dict loads strictly.

The module and parameter names (`conv1`, `dw_conv`, `features.N.conv.{0,1,2,3}`, `conv2`, `gdconv`,
`conv3`, `bn`) follow foamliu/MobileFaceNet @a6cc9032 `mobilefacenet.py`, so its Apache-2.0 weights
(../shared/data/weights/mobilefacenet_foamliu) can be embedded with or fine-tuned from here.
"""

from __future__ import annotations

import torch
from torch import nn

# (expansion t, output channels c, repeats n, first stride s) of the bottleneck stages (paper, table 1).
INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (2, 64, 5, 2),
    (4, 128, 1, 2),
    (2, 128, 6, 1),
    (4, 128, 1, 2),
    (2, 128, 2, 1),
)
STEM_CHANNELS = 64
LAST_CHANNELS = 512
# 112×112 input, stride 16 overall → 7×7 feature map for the global depthwise convolution.
GDCONV_KERNEL_PX = 7


class ConvBnRelu6(nn.Sequential):
    """Convolution → BatchNorm → ReLU6, the MobileNetV2 unit (keys `.0` conv, `.1` BN)."""

    def __init__(
        self, in_channels: int, out_channels: int, *, kernel_px: int = 3, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels, out_channels, kernel_px, stride, (kernel_px - 1) // 2, groups=groups, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True),
        )


class DepthwiseSeparable(nn.Module):
    """Depthwise 3×3 then pointwise 1×1, each followed by BN and ReLU (foamliu's `dw_conv`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.depthwise(x)))
        out: torch.Tensor = self.relu(self.bn2(self.pointwise(x)))
        return out


class GlobalDepthwiseConv(nn.Module):
    """7×7 depthwise convolution over the whole map, then BN: MobileFaceNet's replacement for pooling."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, GDCONV_KERNEL_PX, groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bn(self.depthwise(x))
        return out


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: 1×1 expand, 3×3 depthwise, linear 1×1 project; residual when shapes match."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.has_residual = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            ConvBnRelu6(in_channels, hidden, kernel_px=1),
            ConvBnRelu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return x + out if self.has_residual else out


class MobileFaceNet(nn.Module):
    """MobileFaceNet embedding network.

    Input: N×3×112×112 float32 RGB, normalised as the weights expect (foamliu: /255 then ImageNet
    mean/std). Output: N×`embedding_dim` float32, not L2-normalised.
    """

    def __init__(self, *, embedding_dim: int = 128) -> None:
        super().__init__()
        self.conv1 = ConvBnRelu6(3, STEM_CHANNELS, stride=2)
        self.dw_conv = DepthwiseSeparable(STEM_CHANNELS)
        blocks: list[nn.Module] = []
        channels = STEM_CHANNELS
        for expansion, out_channels, repeats, first_stride in INVERTED_RESIDUAL_SETTING:
            for index in range(repeats):
                stride = first_stride if index == 0 else 1
                blocks.append(InvertedResidual(channels, out_channels, stride=stride, expansion=expansion))
                channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.conv2 = ConvBnRelu6(channels, LAST_CHANNELS, kernel_px=1)
        self.gdconv = GlobalDepthwiseConv(LAST_CHANNELS)
        self.conv3 = nn.Conv2d(LAST_CHANNELS, embedding_dim, 1)
        self.bn = nn.BatchNorm2d(embedding_dim)
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.dw_conv(self.conv1(x)))
        x = self.conv3(self.gdconv(self.conv2(x)))
        out: torch.Tensor = self.bn(x)
        return out.flatten(1)
