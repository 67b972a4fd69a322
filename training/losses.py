"""Triplet margin loss on cosine similarity (pytorch-metric-learning); consumes a miner's triplets."""

from __future__ import annotations

from pytorch_metric_learning import distances, losses, reducers
from torch import nn


def build_triplet_loss(*, margin_cos: float) -> nn.Module:
    """max(0, s(a,n) − s(a,p) + margin) averaged over the triplets given (or all valid ones).

    MeanReducer averages over every triplet, zero-loss ones included, so the loss value is comparable
    across miners (pytorch-metric-learning's default averages only the non-zero ones).
    """
    loss: nn.Module = losses.TripletMarginLoss(
        margin=margin_cos, distance=distances.CosineSimilarity(), reducer=reducers.MeanReducer()
    )
    return loss
