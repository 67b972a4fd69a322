"""Batches of P identities × M images each (pytorch-metric-learning's MPerClassSampler)."""

from __future__ import annotations

from pytorch_metric_learning import samplers
from torch.utils.data import Sampler


def identity_batch_sampler(
    labels: tuple[int, ...], *, images_per_identity: int, batch_size: int
) -> Sampler[int]:
    """Index sampler whose consecutive `batch_size` indices hold `images_per_identity` of each identity.

    One pass covers about as many images as the training set holds.
    """
    usable = len(labels) - len(labels) % batch_size
    sampler: Sampler[int] = samplers.MPerClassSampler(
        list(labels), m=images_per_identity, batch_size=batch_size, length_before_new_iter=usable
    )
    return sampler
