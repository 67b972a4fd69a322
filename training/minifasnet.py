"""MiniFASNet V2 and V1SE (Minivision's passive anti-spoofing nets), laid out to load their state dicts.

Written for this project from the published architecture; module and parameter names (`conv1`, `conv2_dw`,
`conv_23`, `conv_3.model.N`, `conv_34`, `conv_4`, `conv_45`, `conv_5`, `conv_6_sep`, `conv_6_dw`, `linear`,
`bn`, `prob`, `se_module.{fc1,bn1,fc2,bn2}`) follow minivision-ai/Silent-Face-Anti-Spoofing @b6d5f04
`src/model_lib/MiniFASNet.py`, so its Apache-2.0 weights (../shared/data/weights/minifasnet) load unchanged
apart from the `module.` prefix that DataParallel left on every key.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from training.errors import CheckpointError
from training.export import write_onnx

Variant = Literal["v2", "v1se"]

# Channel widths of the pruned nets ("1.8M" for V1/V1SE, "1.8M_" for V2), read as in the reference's
# `keep_dict`: block i of a stage maps keep[s+3i] → keep[s+3i+1] (1×1) → keep[s+3i+2] (depthwise) →
# keep[s+3i+3] (1×1 projection).
_KEEP: dict[Variant, tuple[int, ...]] = {
    "v1se": (32, 32, 103, 103, 64, 13, 13, 64, 26, 26, 64, 13, 13, 64, 52, 52, 64, 231, 231, 128, 154, 154,
             128, 52, 52, 128, 26, 26, 128, 52, 52, 128, 26, 26, 128, 26, 26, 128, 308, 308, 128, 26, 26,
             128, 26, 26, 128, 512, 512),
    "v2": (32, 32, 103, 103, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 231, 231, 128, 231, 231,
           128, 52, 52, 128, 26, 26, 128, 77, 77, 128, 26, 26, 128, 26, 26, 128, 308, 308, 128, 26, 26, 128,
           26, 26, 128, 512, 512),
}  # fmt: skip
NUM_CLASSES = 3
LIVE_CLASS = 1
"""Index of the bona fide class in the 3-way softmax (the others are two attack families)."""
INPUT_SIDE_PX = 80
_EMBEDDING_DIM = 128
_SE_REDUCTION = 4
# 80×80 input, stride 16 → a 5×5 map for the last depthwise convolution (the reference's get_kernel).
_CONV6_KERNEL_PX = (INPUT_SIDE_PX + 15) // 16


class ConvBnPrelu(nn.Module):
    """Convolution → BatchNorm → PReLU (keys `conv`, `bn`, `prelu`)."""

    def __init__(
        self, c_in: int, c_out: int, *, kernel_px: int = 1, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_px, stride, kernel_px // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.prelu = nn.PReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))  # type: ignore[no-any-return]


class ConvBn(nn.Module):
    """Convolution → BatchNorm with no activation (keys `conv`, `bn`)."""

    def __init__(self, c_in: int, c_out: int, *, kernel_px: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_px, 1, 0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))  # type: ignore[no-any-return]


class SqueezeExcite(nn.Module):
    """Channel attention with BatchNorm in both 1×1 layers (the reference's SEModule)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // _SE_REDUCTION, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels // _SE_REDUCTION)
        self.fc2 = nn.Conv2d(channels // _SE_REDUCTION, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True)
        gate = torch.sigmoid(self.bn2(self.fc2(torch.relu(self.bn1(self.fc1(pooled))))))
        return x * gate


class DepthwiseBlock(nn.Module):
    """1×1 expand → 3×3 depthwise → 1×1 project, optionally with SE and a residual connection."""

    def __init__(
        self, widths: tuple[int, int, int, int], *, stride: int, is_residual: bool, has_se: bool
    ) -> None:
        super().__init__()
        c_in, c_mid, c_dw, c_out = widths
        self.conv = ConvBnPrelu(c_in, c_mid)
        self.conv_dw = ConvBnPrelu(c_mid, c_dw, kernel_px=3, stride=stride, groups=c_mid)
        self.project = ConvBn(c_dw, c_out)
        self.is_residual = is_residual
        self.se_module = SqueezeExcite(c_out) if has_se else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            out = self.se_module(out)
        return x + out if self.is_residual else out


class ResidualStage(nn.Module):
    """`blocks` residual blocks at stride 1 (key `model.N`); with SE, the last block carries it."""

    def __init__(self, keep: tuple[int, ...], *, start: int, blocks: int, has_se: bool) -> None:
        super().__init__()
        self.model = nn.Sequential(
            *(
                DepthwiseBlock(
                    _widths(keep, start + 3 * i),
                    stride=1,
                    is_residual=True,
                    has_se=has_se and i == blocks - 1,
                )
                for i in range(blocks)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # type: ignore[no-any-return]


def _widths(keep: tuple[int, ...], start: int) -> tuple[int, int, int, int]:
    return keep[start], keep[start + 1], keep[start + 2], keep[start + 3]


class MiniFasNet(nn.Module):
    """80×80×3 BGR float 0..255 (no normalisation) → 3 logits; class LIVE_CLASS is a bona fide face."""

    def __init__(self, variant: Variant) -> None:
        super().__init__()
        keep, has_se = _KEEP[variant], variant == "v1se"
        self.conv1 = ConvBnPrelu(3, keep[0], kernel_px=3, stride=2)
        self.conv2_dw = ConvBnPrelu(keep[0], keep[1], kernel_px=3, groups=keep[1])
        self.conv_23 = DepthwiseBlock(_widths(keep, 1), stride=2, is_residual=False, has_se=False)
        self.conv_3 = ResidualStage(keep, start=4, blocks=4, has_se=has_se)
        self.conv_34 = DepthwiseBlock(_widths(keep, 16), stride=2, is_residual=False, has_se=False)
        self.conv_4 = ResidualStage(keep, start=19, blocks=6, has_se=has_se)
        self.conv_45 = DepthwiseBlock(_widths(keep, 37), stride=2, is_residual=False, has_se=False)
        self.conv_5 = ResidualStage(keep, start=40, blocks=2, has_se=has_se)
        self.conv_6_sep = ConvBnPrelu(keep[46], keep[47])
        self.conv_6_dw = ConvBn(keep[47], keep[48], kernel_px=_CONV6_KERNEL_PX, groups=keep[48])
        self.linear = nn.Linear(keep[48], _EMBEDDING_DIM, bias=False)
        self.bn = nn.BatchNorm1d(_EMBEDDING_DIM)
        self.prob = nn.Linear(_EMBEDDING_DIM, NUM_CLASSES, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stages: tuple[nn.Module, ...] = (
            self.conv1,
            self.conv2_dw,
            self.conv_23,
            self.conv_3,
            self.conv_34,
            self.conv_4,
            self.conv_45,
            self.conv_5,
            self.conv_6_sep,
            self.conv_6_dw,
        )
        for stage in stages:
            x = stage(x)
        return self.prob(self.bn(self.linear(x.flatten(1))))  # type: ignore[no-any-return]


def load_minifasnet(path: Path, variant: Variant) -> MiniFasNet:
    """The net in eval mode with the state dict at `path` loaded strictly.

    Raises:
        CheckpointError: the file cannot be read or its keys or shapes do not fit the variant.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = MiniFasNet(variant)
        model.load_state_dict(
            OrderedDict((key.removeprefix("module."), value) for key, value in state.items()), strict=True
        )
    except (OSError, RuntimeError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{path}: not a MiniFASNet {variant} state dict: {exc}") from exc
    return model.eval()


def export_minifasnet_onnx(model: MiniFasNet, onnx_path: Path) -> None:
    """Write the net as ONNX with a dynamic batch: input `input` N×3×80×80, output `logits` N×3.

    Raises:
        CheckpointError: the export fails.
    """
    try:
        write_onnx(model, onnx_path, input_side_px=INPUT_SIDE_PX, output_name="logits")
    except (OSError, RuntimeError) as exc:
        raise CheckpointError(f"ONNX export to {onnx_path} failed: {exc}") from exc
