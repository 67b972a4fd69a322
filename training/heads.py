"""Margin heads: ArcFace and CosFace classification losses over the training identities.

Both are pytorch-metric-learning losses; each holds its own class-centre matrix `W`, trained with the
network and dropped at export (only the embedding network is deployed).
"""

from __future__ import annotations

from pytorch_metric_learning import losses
from torch import nn

from training.config import ArcFaceConfig, CosFaceConfig


def build_margin_head(
    config: ArcFaceConfig | CosFaceConfig, *, num_classes: int, embedding_dim: int
) -> nn.Module:
    """A module computing the margin softmax loss from (embeddings, labels)."""
    head: nn.Module
    if isinstance(config, ArcFaceConfig):
        head = losses.ArcFaceLoss(
            num_classes=num_classes,
            embedding_size=embedding_dim,
            margin=config.margin_deg,
            scale=config.scale,
        )
    else:
        head = losses.CosFaceLoss(
            num_classes=num_classes,
            embedding_size=embedding_dim,
            margin=config.margin_cos,
            scale=config.scale,
        )
    return head
