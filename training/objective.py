"""The training objective from config: a margin head, or a triplet loss fed by its mining schedule."""

from __future__ import annotations

import torch
from torch import nn

from training.config import ArcFaceConfig, CosFaceConfig, TripletConfig
from training.heads import build_margin_head
from training.losses import build_triplet_loss
from training.miners import MiningSchedule, build_miner
from training.mining_stats import mining_stats


class Objective(nn.Module):
    """(embeddings, labels) → (loss, step statistics); the loss holds any trainable head (ArcFace centres)."""

    def __init__(self, loss: nn.Module, schedule: MiningSchedule | None, *, margin_cos: float | None) -> None:
        super().__init__()
        self.loss = loss
        self.schedule = schedule
        self.margin_cos = margin_cos

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, *, epochs_done: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()  # margins are computed in float32 even under autocast
        tuples = self.schedule(embeddings, labels, epochs_done=epochs_done) if self.schedule else None
        loss: torch.Tensor = self.loss(embeddings, labels, tuples)
        return loss, mining_stats(embeddings, labels, tuples, margin_cos=self.margin_cos)


class TrainingNetwork(nn.Module):
    """Backbone and objective as one module, so one DistributedDataParallel wrapper syncs both."""

    def __init__(self, body: nn.Module, objective: Objective) -> None:
        super().__init__()
        self.body = body
        self.objective = objective

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, *, epochs_done: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out: tuple[torch.Tensor, torch.Tensor] = self.objective(
            self.body(images), labels, epochs_done=epochs_done
        )
        return out


def build_objective(
    config: ArcFaceConfig | CosFaceConfig | TripletConfig, *, num_classes: int, embedding_dim: int
) -> Objective:
    """The loss module for `config` over `num_classes` training identities."""
    if isinstance(config, TripletConfig):
        final = build_miner(config.mining, margin_cos=config.margin_cos)
        if config.warmup_mining is None:
            schedule = MiningSchedule(final, final, switch_epochs=0.0)
        else:
            first = build_miner(config.warmup_mining, margin_cos=config.margin_cos)
            schedule = MiningSchedule(first, final, switch_epochs=config.warmup_mining_epochs)
        loss = build_triplet_loss(margin_cos=config.margin_cos, is_soft_margin=config.is_soft_margin)
        return Objective(loss, schedule, margin_cos=config.margin_cos)
    head = build_margin_head(config, num_classes=num_classes, embedding_dim=embedding_dim)
    return Objective(head, None, margin_cos=None)
