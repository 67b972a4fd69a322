"""What a run records: per-epoch metrics (metrics.csv rows), one pass's measurements, the final result."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.mining_stats import StepStats
from training.validation import ValidationResult


@dataclass(frozen=True)
class EpochMetrics:
    """One line of metrics.csv."""

    epoch: int
    train_loss: float
    images_per_s: float
    learning_rate: float
    val_accuracy: float
    val_accuracy_std: float
    val_tar_at_far_1e3: float
    wall_s: float
    active_fraction: float
    positive_cos: float
    negative_cos: float
    cpu_s: float = math.nan
    """CPU seconds of this process since the run started (NaN in checkpoints written before it existed)."""


@dataclass(frozen=True)
class TrainResult:
    """Where the run is, what each epoch measured, and why it stopped."""

    run_dir: Path
    epochs: tuple[EpochMetrics, ...]
    best_epoch: int
    """The epoch (1-based) of the best validation; with mid-epoch validations, the one it happened in."""
    best_step: int
    """The step of the best validation: the state exported (best.pt)."""
    stopped_because: str
    validation: ValidationResult | None
    """The best checkpoint's validation scores (used to calibrate the exported bundle); rank 0 only."""


@dataclass(frozen=True)
class EpochRun:
    """What one training pass measured, before validation."""

    losses: list[float]
    stats: list[StepStats]
    images_per_s: float

    def mean_stats(self) -> StepStats:
        """The pass's step statistics averaged (NaN ones left out)."""
        return StepStats(
            active_fraction=_nan_mean([x.active_fraction for x in self.stats]),
            positive_cos=_nan_mean([x.positive_cos for x in self.stats]),
            negative_cos=_nan_mean([x.negative_cos for x in self.stats]),
        )


def _nan_mean(values: list[float]) -> float:
    """Mean of the non-NaN values; NaN when none (a margin head has no active-triplet fraction)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan
