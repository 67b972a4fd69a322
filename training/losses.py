"""Triplet margin loss on cosine similarity (pytorch-metric-learning); consumes a miner's triplets."""

from __future__ import annotations

from pytorch_metric_learning import distances, losses, reducers
from torch import nn


def build_triplet_loss(*, margin_cos: float, is_soft_margin: bool = False) -> nn.Module:
    """max(0, s(a,n) − s(a,p) + margin), or softplus of the same, averaged over the triplets given.

    The soft margin, ln(1 + exp(x)), is Hermans et al. 2017's remedy for batch-hard's collapse: it never
    stops pulling, so hard triplets from a random network still give a gradient (they use margin 0).
    MeanReducer averages over every triplet, zero-loss ones included, so the loss value is comparable
    across miners (pytorch-metric-learning's default averages only the non-zero ones).
    """
    loss: nn.Module = losses.TripletMarginLoss(
        margin=margin_cos,
        smooth_loss=is_soft_margin,
        distance=distances.CosineSimilarity(),
        reducer=reducers.MeanReducer(),
    )
    return loss
