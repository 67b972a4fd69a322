"""Batches of P identities × K images each, sharded across data-parallel ranks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from training.errors import DatasetError


class IdentityBatchSampler(Sampler[list[int]]):
    """Index batches for one epoch of one rank: each holds `images_per_identity` images of P identities.

    Every step draws P × world_size distinct identities from a generator seeded by (seed, epoch), the
    same on every rank; rank r takes the r-th block of P, so ranks see disjoint identities in a step and
    all run the same number of steps. An identity with fewer than K images repeats some (as
    pytorch-metric-learning's MPerClassSampler does). One epoch covers about as many images as the
    training set holds, across all ranks.
    """

    def __init__(
        self,
        labels: tuple[int, ...],
        *,
        batch_size: int,
        images_per_identity: int,
        seed: int,
        epoch: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        """Raises:
        DatasetError: the batch is not a multiple of K, or there are fewer than P × world_size identities.
        """
        if batch_size % images_per_identity:
            raise DatasetError(f"batch size {batch_size} is not a multiple of {images_per_identity} images")
        indices: defaultdict[int, list[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            indices[label].append(index)
        self.by_identity = [np.asarray(indices[label]) for label in sorted(indices)]
        self.identities_per_rank = batch_size // images_per_identity
        if self.identities_per_rank * world_size > len(self.by_identity):
            raise DatasetError(
                f"{len(self.by_identity)} identities cannot fill {world_size} × {self.identities_per_rank} "
                "distinct identities per step: lower the batch size or the number of processes"
            )
        self.images_per_identity = images_per_identity
        self.steps = len(labels) // (batch_size * world_size)
        self.seed, self.epoch, self.rank, self.world_size = seed, epoch, rank, world_size

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        per_rank, k = self.identities_per_rank, self.images_per_identity
        for _ in range(self.steps):
            # Every rank draws the whole step (all ranks' images) so the generators stay in lockstep.
            chosen = rng.choice(len(self.by_identity), size=per_rank * self.world_size, replace=False)
            images = [
                rng.choice(self.by_identity[i], size=k, replace=len(self.by_identity[i]) < k) for i in chosen
            ]
            mine = images[self.rank * per_rank : (self.rank + 1) * per_rank]
            yield [int(index) for block in mine for index in block]
