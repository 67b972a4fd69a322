"""Verification on held-out identities: every same-identity pair is genuine, every cross pair an impostor.

Accuracy uses the LFW protocol code (recognition.evaluate_verification: ten folds, threshold chosen on
nine) on all genuine pairs and as many impostors drawn at random; TAR at FAR 1e-3 uses every pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from recognition import evaluate_verification
from training.data import normalise

FOLDS = 10


@dataclass(frozen=True)
class ValidationResult:
    """Scores and metrics of one validation pass."""

    accuracy: float
    accuracy_std: float
    tar_at_far_1e3: float
    genuine: npt.NDArray[np.float64]
    impostor: npt.NDArray[np.float64]
    fold_accuracies: tuple[float, ...] = ()
    """Accuracy of each of the ten folds: two models measured on the same crops with the same seed get the
    same pairs in the same folds, so they can be compared fold by fold."""


@torch.no_grad()
def embed_crops(
    model: nn.Module,
    images: torch.Tensor,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    device: torch.device,
    batch_size: int = 128,
) -> npt.NDArray[np.float32]:
    """Unit embeddings (N×D float32) of N×3×112×112 uint8 RGB crops, in eval mode."""
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = normalise(images[start : start + batch_size].to(device), mean=mean, std=std)
        chunks.append(nn.functional.normalize(model(batch).float(), dim=1).cpu())
    model.train(was_training)
    return torch.cat(chunks).numpy()


def pair_scores_by_label(
    embeddings: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Cosine of every unordered pair i<j, split into genuine (same label) and impostor scores."""
    similarity = embeddings.astype(np.float64) @ embeddings.astype(np.float64).T
    first, second = np.triu_indices(len(labels), k=1)
    is_same = labels[first] == labels[second]
    scores = similarity[first, second]
    return scores[is_same], scores[~is_same]


def verification_metrics(
    genuine: npt.NDArray[np.float64], impostor: npt.NDArray[np.float64], *, rng: np.random.Generator
) -> ValidationResult:
    """Balanced ten-fold accuracy and TAR at FAR 1e-3 of these scores."""
    sample = rng.choice(impostor, size=min(len(genuine), len(impostor)), replace=False)
    balanced = np.concatenate([genuine, sample])
    is_same = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(sample), bool)])
    folds = rng.permutation(len(balanced)) % FOLDS
    accuracy = evaluate_verification(balanced, is_same, folds.astype(np.int64)).folds
    everything = np.concatenate([genuine, impostor])
    all_same = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
    all_folds = np.arange(len(everything), dtype=np.int64) % FOLDS
    at_far = evaluate_verification(everything, all_same, all_folds).at_far_1e3
    return ValidationResult(
        accuracy=accuracy.mean,
        accuracy_std=accuracy.std,
        tar_at_far_1e3=at_far.tar,
        genuine=genuine,
        impostor=impostor,
        fold_accuracies=accuracy.accuracies,
    )


def validate_identities(
    model: nn.Module,
    images: torch.Tensor,
    labels: tuple[int, ...],
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    device: torch.device,
    seed: int,
) -> ValidationResult:
    """Verification metrics of `model` on every pair of these N×3×112×112 uint8 RGB crops of held-out
    identities (labelled by identity); the same `seed` draws the same impostor sample and folds."""
    embeddings = embed_crops(model, images, mean=mean, std=std, device=device)
    genuine, impostor = pair_scores_by_label(embeddings, np.asarray(labels, dtype=np.int64))
    return verification_metrics(genuine, impostor, rng=np.random.default_rng(seed))
