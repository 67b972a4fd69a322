"""Triplet miners (pytorch-metric-learning), each returning index tuples the triplet loss consumes (H3).

A `MiningSchedule` switches miners during a run: a curriculum from semi-hard (or from every triplet,
a warm start from the unmined loss) to batch-hard after a number of epochs.
"""

from __future__ import annotations

import torch
from pytorch_metric_learning import distances, miners
from torch import nn

from training.config import Mining

# Wu et al. 2017, section 4: distances are clipped at 0.5 so no negative weighs without bound, and
# negatives further than 1.4 (on the unit sphere) are never sampled since their hinge is zero anyway.
DISTANCE_WEIGHTED_CUTOFF = 0.5
DISTANCE_WEIGHTED_NONZERO_LOSS_CUTOFF = 1.4
# Wang et al. 2019, multi-similarity mining: keep pairs within epsilon of the hardest opposite pair.
MULTI_SIMILARITY_EPSILON = 0.1


def build_miner(mining: Mining, *, margin_cos: float) -> nn.Module | None:
    """The miner for `mining`, or None to use every valid triplet of the batch.

    batch_hard: for each anchor, its least similar positive and most similar negative (Hermans et al. 2017).
    semi_hard: triplets whose negative is less similar than the positive but within the margin
    (Schroff et al. 2015).
    multi_similarity: pairs harder than the easiest opposite pair by `MULTI_SIMILARITY_EPSILON`
    (Wang et al. 2019); the triplet loss joins positive and negative pairs that share an anchor.
    distance_weighted: one negative per positive pair, drawn with weight 1/q(d), the inverse density
    of distances between random points on the sphere (Wu et al. 2017).
    """
    cosine = distances.CosineSimilarity()
    miner: nn.Module
    if mining == "none":
        return None
    if mining == "batch_hard":
        miner = miners.BatchHardMiner(distance=cosine)
    elif mining == "semi_hard":
        miner = miners.TripletMarginMiner(margin=margin_cos, type_of_triplets="semihard", distance=cosine)
    elif mining == "multi_similarity":
        miner = miners.MultiSimilarityMiner(epsilon=MULTI_SIMILARITY_EPSILON, distance=cosine)
    else:
        miner = miners.DistanceWeightedMiner(
            cutoff=DISTANCE_WEIGHTED_CUTOFF, nonzero_loss_cutoff=DISTANCE_WEIGHTED_NONZERO_LOSS_CUTOFF
        )
    return miner


class MiningSchedule(nn.Module):
    """`first` until `switch_epochs` epochs are done, then `then` (either may be None: every triplet)."""

    def __init__(self, first: nn.Module | None, then: nn.Module | None, *, switch_epochs: float) -> None:
        super().__init__()
        self.first = first
        self.then = then
        self.switch_epochs = switch_epochs

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, *, epochs_done: float
    ) -> tuple[torch.Tensor, ...] | None:
        miner = self.first if epochs_done < self.switch_epochs else self.then
        if miner is None:
            return None
        tuples: tuple[torch.Tensor, ...] = miner(embeddings, labels)
        return tuples
