"""Offline metric learning (ArcFace/CosFace, triplet with hard mining) producing deployable model bundles.

The only package that imports torch; it never imports storage, so training data never comes from the
production database. Entry point: `train_and_export(load_config(...), run_dir, recognizer=...)`.
"""

from training.backbones import build_backbone
from training.checkpoint import load_initial_weights, load_torchscript
from training.config import (
    ArcFaceConfig,
    AugmentConfig,
    BackboneConfig,
    CosFaceConfig,
    DataConfig,
    OptimConfig,
    TrainConfig,
    TripletConfig,
    load_config,
)
from training.data import normalise
from training.distributed import distributed_from_env
from training.errors import CheckpointError, DatasetError, TrainingError
from training.run import train_and_export
from training.runtime import resolve_device
from training.validation import embed_crops

__all__ = [
    "ArcFaceConfig",
    "AugmentConfig",
    "BackboneConfig",
    "CheckpointError",
    "CosFaceConfig",
    "DataConfig",
    "DatasetError",
    "OptimConfig",
    "TrainConfig",
    "TrainingError",
    "TripletConfig",
    "build_backbone",
    "distributed_from_env",
    "embed_crops",
    "load_config",
    "load_initial_weights",
    "load_torchscript",
    "normalise",
    "resolve_device",
    "train_and_export",
]
