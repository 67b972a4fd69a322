"""Training and validation sets from aligned crops: identity-disjoint split, images held in memory."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from recognition import ALIGNED_SIZE_PX
from training.augment import Augmenter
from training.config import DataConfig
from training.errors import DatasetError


@dataclass(frozen=True)
class Split:
    """Crop paths with integer labels; training labels are 0..n-1; validation and report identities are
    disjoint from the training identities and from each other."""

    train_paths: tuple[Path, ...]
    train_labels: tuple[int, ...]
    val_paths: tuple[Path, ...]
    val_labels: tuple[int, ...]
    train_identities: tuple[str, ...]
    val_identities: tuple[str, ...]
    report_paths: tuple[Path, ...] = ()
    report_labels: tuple[int, ...] = ()
    report_identities: tuple[str, ...] = ()

    def without_report(self) -> Split:
        """The same split with no report identities: what the trainer gets, so selection cannot read them."""
        return dataclasses.replace(self, report_paths=(), report_labels=(), report_identities=())


def _labelled(
    crops: dict[str, tuple[Path, ...]], names: list[str]
) -> tuple[tuple[Path, ...], tuple[int, ...]]:
    pairs = [(path, label) for label, name in enumerate(names) for path in crops[name]]
    return tuple(p for p, _ in pairs), tuple(label for _, label in pairs)


def split_identities(crops: dict[str, tuple[Path, ...]], config: DataConfig, *, seed: int) -> Split:
    """Drop excluded and too-small identities, then hold out `val_identities` of them at random, then
    `report_identities` of the rest (the validation draw is the one it was before report identities).

    Raises:
        DatasetError: fewer than two identities would be left for training.
    """
    excluded = set(config.exclude_identities)
    names = sorted(
        name
        for name, paths in crops.items()
        if name not in excluded and len(paths) >= config.min_images_per_identity
    )
    names = names[: config.max_identities] if config.max_identities else names
    if len(names) < config.val_identities + config.report_identities + 2:
        raise DatasetError(
            f"{len(names)} identities with ≥{config.min_images_per_identity} crops: too few to hold out "
            f"{config.val_identities} for validation and {config.report_identities} for the report and "
            "train on at least 2"
        )
    rng = random.Random(seed)
    held_out = set(rng.sample(names, config.val_identities))
    rest = [name for name in names if name not in held_out]
    reported = set(rng.sample(rest, config.report_identities))
    train_names = [name for name in rest if name not in reported]
    val_names, report_names = sorted(held_out), sorted(reported)
    train_paths, train_labels = _labelled(crops, train_names)
    val_paths, val_labels = _labelled(crops, val_names)
    report_paths, report_labels = _labelled(crops, report_names)
    return Split(
        train_paths=train_paths,
        train_labels=train_labels,
        val_paths=val_paths,
        val_labels=val_labels,
        train_identities=tuple(train_names),
        val_identities=tuple(val_names),
        report_paths=report_paths,
        report_labels=report_labels,
        report_identities=tuple(report_names),
    )


def load_crops(paths: tuple[Path, ...]) -> torch.Tensor:
    """N×3×112×112 uint8 RGB tensor of the crops (all of them fit in memory: 37 KB each).

    Raises:
        DatasetError: a crop cannot be read.
    """
    images = np.empty((len(paths), ALIGNED_SIZE_PX, ALIGNED_SIZE_PX, 3), dtype=np.uint8)
    for index, path in enumerate(paths):
        bgr = cv2.imread(str(path))
        if bgr is None or bgr.shape != (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX, 3):
            raise DatasetError(f"{path}: not a readable 112×112 crop")
        images[index] = bgr[:, :, ::-1]
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def normalise(images: torch.Tensor, *, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 or 0..1 float N×3×H×W RGB → float32 (x/255 − mean)/std, as bundle.json describes it."""
    scaled = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return (scaled - mean_t) / std_t


class CropDataset(Dataset[tuple[torch.Tensor, int]]):
    """In-memory crops with their labels; each item is an augmented uint8 3×112×112 tensor."""

    def __init__(self, images: torch.Tensor, labels: tuple[int, ...], augmenter: Augmenter | None) -> None:
        self.images = images
        self.labels = labels
        self.augmenter = augmenter

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        return (self.augmenter(image) if self.augmenter else image), self.labels[index]
