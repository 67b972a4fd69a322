"""Per-step health of metric learning: active triplets and mean positive/negative similarity.

A collapse (every embedding in one direction, batch-hard's failure from random weights) shows as
positive and negative similarity both near 1 with every triplet active at exactly the margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
from torch import nn


@dataclass(frozen=True)
class StepStats:
    """Averages over one batch: fraction of the used triplets with a non-zero hinge, and mean cosines."""

    active_fraction: float
    positive_cos: float
    negative_cos: float

    @classmethod
    def from_tensor(cls, values: torch.Tensor) -> StepStats:
        """From the 3-vector `mining_stats` returns."""
        active, positive, negative = (float(v) for v in values)
        return cls(active_fraction=active, positive_cos=positive, negative_cos=negative)


@torch.no_grad()
def mining_stats(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    tuples: tuple[torch.Tensor, ...] | None,
    *,
    margin_cos: float | None,
) -> torch.Tensor:
    """[active fraction, mean positive cosine, mean negative cosine] of one batch (float32, 3).

    Args:
        embeddings: N×D, not necessarily normalised.
        tuples: the miner's triplets or pairs (None: every valid triplet); unused without a margin.
        margin_cos: the triplet margin; None (margin heads) makes the active fraction NaN.
    """
    unit = nn.functional.normalize(embeddings.detach().float(), dim=1)
    similarity = unit @ unit.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = similarity[same & off_diagonal].mean()
    negative = similarity[~same].mean()
    active = torch.tensor(math.nan, device=embeddings.device)
    if margin_cos is not None:
        anchors, positives, negatives = lmu.convert_to_triplets(tuples, labels, labels, t_per_anchor="all")
        if len(anchors):
            hinge = similarity[anchors, negatives] - similarity[anchors, positives] + margin_cos
            active = (hinge > 0).float().mean()
    return torch.stack([active, positive, negative])
