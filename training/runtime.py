"""Process setup for a run: which device, and one seed for every random source."""

from __future__ import annotations

import random

import numpy as np
import torch


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Python, numpy (pytorch-metric-learning's miners draw from it) and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
