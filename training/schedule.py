"""Learning-rate schedule: linear warm-up, then cosine decay to zero (Goyal et al. 2017; Loshchilov 2017)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine_factor(step: int, *, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak rate at `step` (0-based): step/warmup, then ½(1 + cos(π·progress))."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: Optimizer, *, warmup_steps: int, total_steps: int) -> LambdaLR:
    """Per-step scheduler over every parameter group of `optimizer`."""
    return LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, warmup_steps=warmup_steps, total_steps=total_steps)
    )
