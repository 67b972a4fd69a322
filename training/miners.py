"""Triplet miners: batch-hard and semi-hard (pytorch-metric-learning), returning index tuples (H3)."""

from __future__ import annotations

from typing import Literal

from pytorch_metric_learning import distances, miners
from torch import nn


def build_miner(mining: Literal["batch_hard", "semi_hard", "none"], *, margin_cos: float) -> nn.Module | None:
    """The miner for `mining` on cosine similarity, or None to use every valid triplet of the batch.

    batch_hard: for each anchor, its least similar positive and most similar negative (Hermans et al. 2017).
    semi_hard: triplets whose negative is less similar than the positive but within the margin
    (Schroff et al. 2015).
    """
    if mining == "none":
        return None
    miner: nn.Module
    if mining == "batch_hard":
        miner = miners.BatchHardMiner(distance=distances.CosineSimilarity())
    else:
        miner = miners.TripletMarginMiner(
            margin=margin_cos, type_of_triplets="semihard", distance=distances.CosineSimilarity()
        )
    return miner
