"""Validation pairs of held-out identities, against a loop over every pair (K4)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from training.validation import pair_scores_by_label, verification_metrics  # noqa: E402


def test_every_unordered_pair_is_scored_once_as_genuine_or_impostor() -> None:
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(9, 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2], dtype=np.int64)
    genuine, impostor = pair_scores_by_label(embeddings, labels)
    expected_genuine, expected_impostor = [], []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            score = float(np.dot(embeddings[i].astype(np.float64), embeddings[j].astype(np.float64)))
            (expected_genuine if labels[i] == labels[j] else expected_impostor).append(score)
    np.testing.assert_allclose(np.sort(genuine), np.sort(expected_genuine), atol=1e-12)
    np.testing.assert_allclose(np.sort(impostor), np.sort(expected_impostor), atol=1e-12)


def test_separated_scores_are_perfect_and_overlapping_ones_are_not() -> None:
    rng = np.random.default_rng(1)
    genuine = rng.uniform(0.6, 0.9, size=200)
    separated = verification_metrics(genuine, rng.uniform(-0.2, 0.3, size=4000), rng=rng)
    assert (separated.accuracy, separated.tar_at_far_1e3) == (1.0, 1.0)
    overlapping = verification_metrics(genuine, rng.uniform(0.5, 0.8, size=4000), rng=rng)
    assert overlapping.accuracy < 0.9 and overlapping.tar_at_far_1e3 < 0.5
