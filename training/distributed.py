"""Data-parallel training over torch.distributed (gloo on CPU, NCCL on GPUs), launched by torchrun.

`torchrun --nproc-per-node N facegate train ...` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous
address; `distributed_from_env` joins that group for the length of a run. Every rank trains on its own
identities of each step (see samplers.IdentityBatchSampler); DistributedDataParallel averages the
gradients; rank 0 alone validates, logs and writes checkpoints and the bundle, and shares the epoch's
metrics and the stop decision with the others so every rank leaves the loop after the same step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from training.errors import TrainingError

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group; the default is a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that validates and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def device(self, requested: torch.device) -> torch.device:
        """One GPU per process (cuda:LOCAL_RANK) when training on CUDA; the CPU stays the CPU."""
        if self.is_distributed and requested.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return requested

    def wrap(self, network: nn.Module, device: torch.device) -> nn.Module:
        """`network` itself, or wrapped in DistributedDataParallel so backward averages gradients."""
        if not self.is_distributed:
            return network
        return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)

    def any(self, flag: bool) -> bool:
        """True on every rank when any rank passes True (e.g. one rank's wall budget ran out)."""
        if not self.is_distributed:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def from_main(self, value: T | None) -> T:
        """Rank 0's `value` on every rank (other ranks pass None); picklable values only."""
        if not self.is_distributed:
            if value is None:
                raise TrainingError("a single-process run must pass its own value")
            return value
        box: list[T | None] = [value]
        dist.broadcast_object_list(box, src=0)
        if box[0] is None:
            raise TrainingError("rank 0 sent nothing")
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank gets here (e.g. until rank 0 has written a checkpoint)."""
        if self.is_distributed:
            dist.barrier()


SINGLE_PROCESS = DistContext()


@contextmanager
def distributed_from_env(device: torch.device) -> Iterator[DistContext]:
    """Join the process group torchrun describes in the environment (or yield SINGLE_PROCESS).

    NCCL when training on CUDA, gloo on the CPU; the group is destroyed on exit.

    Raises:
        TrainingError: WORLD_SIZE is set but RANK or LOCAL_RANK is missing or not a number.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        yield SINGLE_PROCESS
        return
    try:
        context = DistContext(
            rank=int(os.environ["RANK"]), world_size=world_size, local_rank=int(os.environ["LOCAL_RANK"])
        )
    except (KeyError, ValueError) as exc:
        raise TrainingError(
            f"WORLD_SIZE={world_size} needs RANK and LOCAL_RANK (run under torchrun)"
        ) from exc
    if device.type == "cuda":
        torch.cuda.set_device(context.local_rank)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield context
    finally:
        dist.destroy_process_group()
