"""ResNet-18/34/50 (torchvision) adapted to 112×112 faces, with insightface's iResNet embedding head.

torchvision's ImageNet stem (7×7 stride-2 convolution, then max-pool) shrinks 112 px to 28 before the
first block, leaving a 4×4 map that global pooling then flattens. Face recognition ResNets (Deng et al.
2019, insightface `iresnet.py`) keep more resolution: a 3×3 stride-1 stem, so layer 4 ends at 7×7, and
they keep the spatial layout in the embedding: BN → dropout → fully connected over the 7×7×C map → BN.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from training.errors import TrainingError

RESNET_NAMES = ("resnet18", "resnet34", "resnet50")
FINAL_MAP_PX = 7
"""112 px input: the stride-1 stem keeps 112, max-pool 56, layers 2-4 halve it to 7."""


class FaceResNet(nn.Module):
    """N×3×112×112 float → N×embedding_dim (not normalised)."""

    def __init__(self, name: str, *, embedding_dim: int, dropout: float) -> None:
        """Randomly initialised body `name` (one of RESNET_NAMES).

        Raises:
            TrainingError: an unsupported name.
        """
        super().__init__()
        if name not in RESNET_NAMES:
            raise TrainingError(f"backbone kind 'resnet' supports {', '.join(RESNET_NAMES)}, not {name!r}")
        body = importlib.import_module("torchvision.models").get_model(name, weights=None)
        body.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.features = nn.Sequential(
            body.conv1, body.bn1, body.relu, body.maxpool, body.layer1, body.layer2, body.layer3, body.layer4
        )
        channels = body.fc.in_features
        self.head = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(channels * FINAL_MAP_PX * FINAL_MAP_PX, embedding_dim),
            nn.BatchNorm1d(embedding_dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(images))
        return out
