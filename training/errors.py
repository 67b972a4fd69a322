"""Training errors.

TrainingError
├── DatasetError      the identity folders cannot make a training set (too few identities, no faces)
└── CheckpointError   a checkpoint or initial weights cannot be read or do not fit the model
"""

from __future__ import annotations


class TrainingError(Exception):
    """Base class of every error the training package raises."""


class DatasetError(TrainingError):
    """The data cannot make a training or validation set."""


class CheckpointError(TrainingError):
    """A checkpoint or initial-weights file is unreadable or does not match the model."""
