"""Calibration scores: every photo pair once, checked against a pair-by-pair loop (K4)."""

from __future__ import annotations

import numpy as np
import pytest

from recognition import (
    BundleSearch,
    EvaluationDataError,
    ModelBundle,
    all_pair_scores,
    calibrate,
    find_bundle,
)


def _brute_force(vectors: np.ndarray, labels: list[str]) -> tuple[list[float], list[float]]:
    genuine: list[float] = []
    impostor: list[float] = []
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            score = float(np.dot(vectors[i].astype(np.float64), vectors[j]))
            (genuine if labels[i] == labels[j] else impostor).append(score)
    return genuine, impostor


@pytest.mark.parametrize("count", [2, 7, 1500])
def test_all_pair_scores_match_the_brute_force_loop(count: int) -> None:
    rng = np.random.default_rng(count)
    vectors = rng.normal(size=(count, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = [f"p{index}" for index in rng.integers(0, max(1, count // 3), size=count)]

    genuine, impostor = all_pair_scores(vectors, labels)
    expected_genuine, expected_impostor = _brute_force(vectors, labels)

    np.testing.assert_allclose(np.sort(genuine), np.sort(expected_genuine), atol=1e-6)
    np.testing.assert_allclose(np.sort(impostor), np.sort(expected_impostor), atol=1e-6)


def test_labels_must_match_vectors() -> None:
    with pytest.raises(ValueError, match="labels"):
        all_pair_scores(np.eye(3, dtype=np.float32), ["a", "b"])


def test_calibrated_points_never_exceed_their_far_target() -> None:
    rng = np.random.default_rng(0)
    impostor = rng.normal(0.0, 0.1, size=200_000)
    genuine = rng.normal(0.6, 0.1, size=2_000)

    calibration = calibrate(genuine, impostor, dataset="synthetic", command="test")

    for target, point in zip((1e-2, 1e-3, 1e-4), calibration.thresholds, strict=True):
        assert point.far <= target
        assert np.mean(impostor >= point.cos_threshold) == point.far
        assert np.mean(genuine >= point.cos_threshold) == point.tar
        # The lowest such threshold: one step lower lets more than the target through.
        assert np.mean(impostor >= np.nextafter(point.cos_threshold, -np.inf)) > target


@pytest.mark.parametrize(("genuine", "impostor"), [(0, 100), (1, 9), (1, 0)])
def test_too_few_pairs_for_a_curve_are_refused(genuine: int, impostor: int) -> None:
    """Fewer than 10 impostor pairs gave a calibration without curve points, which no bundle may hold."""
    rng = np.random.default_rng(0)
    with pytest.raises(
        EvaluationDataError, match=f"^{genuine} genuine and {impostor} impostor pairs are too few"
    ):
        calibrate(
            rng.normal(0.6, 0.1, genuine), rng.normal(0.0, 0.1, impostor), dataset="few", command="test"
        )


def test_ten_impostor_pairs_give_a_curve_a_bundle_holds() -> None:
    rng = np.random.default_rng(0)
    calibration = calibrate(rng.normal(0.6, 0.1, 1), rng.normal(0.0, 0.1, 10), dataset="ten", command="test")

    assert [point.far for point in calibration.curve] == [0.1]
    sface = find_bundle("sface", BundleSearch()).bundle
    assert ModelBundle.model_validate({**sface.model_dump(), "calibration": calibration.model_dump()})
