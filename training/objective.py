"""The training objective from config: a margin head, or a triplet loss fed by its miner."""

from __future__ import annotations

import torch
from torch import nn

from training.config import ArcFaceConfig, CosFaceConfig, TripletConfig
from training.heads import build_margin_head
from training.losses import build_triplet_loss
from training.miners import build_miner


class Objective(nn.Module):
    """loss(embeddings, labels): the head or loss holds any trainable parameters (ArcFace/CosFace centres)."""

    def __init__(self, loss: nn.Module, miner: nn.Module | None) -> None:
        super().__init__()
        self.loss = loss
        self.miner = miner

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embeddings = embeddings.float()  # margins are computed in float32 even under autocast
        tuples = self.miner(embeddings, labels) if self.miner is not None else None
        out: torch.Tensor = self.loss(embeddings, labels, tuples)
        return out


def build_objective(
    config: ArcFaceConfig | CosFaceConfig | TripletConfig, *, num_classes: int, embedding_dim: int
) -> Objective:
    """The loss module for `config` over `num_classes` training identities."""
    if isinstance(config, TripletConfig):
        miner = build_miner(config.mining, margin_cos=config.margin_cos)
        return Objective(build_triplet_loss(margin_cos=config.margin_cos), miner)
    return Objective(build_margin_head(config, num_classes=num_classes, embedding_dim=embedding_dim), None)
