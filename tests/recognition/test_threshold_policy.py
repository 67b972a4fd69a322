"""Threshold policy: 1:1 at a FAR target, 1:N at an FPIR target that tightens with the gallery, margins."""

from __future__ import annotations

import numpy as np
import pytest

from recognition import (
    Calibration,
    MarginRule,
    calibrate,
    door_threshold,
    fmr_for_fpir,
    verification_threshold,
)
from recognition.bundle_catalog import builtin_bundle

IMPOSTOR_PAIRS = 100_000


@pytest.fixture(scope="module")
def uniform() -> Calibration:
    """Impostor scores 0, 1e-5, …, 0.99999: at FAR f the threshold is 1 − f, a known answer."""
    impostor = np.arange(IMPOSTOR_PAIRS, dtype=np.float64) / IMPOSTOR_PAIRS
    genuine = np.linspace(0.5, 1.0, 1000)
    return calibrate(genuine, impostor, dataset="uniform impostors", command="test")


@pytest.mark.parametrize("far", [1e-2, 1e-3, 1e-4])
def test_verification_reads_the_calibrated_threshold(uniform: Calibration, far: float) -> None:
    chosen = verification_threshold(uniform, far)

    assert chosen.cos_threshold == uniform.threshold_at(far)
    assert chosen.cos_threshold == pytest.approx(1.0 - far, abs=2e-5)
    assert chosen.fmr_per_comparison == far and chosen.gallery_size == 1


@pytest.mark.parametrize("fpir", [1e-1, 1e-2, 1e-3])
@pytest.mark.parametrize("gallery_size", [1, 7, 100, 5000])
def test_fmr_for_fpir_inverts_the_search_formula(fpir: float, gallery_size: int) -> None:
    fmr = fmr_for_fpir(fpir, gallery_size)

    assert 1.0 - (1.0 - fmr) ** gallery_size == pytest.approx(fpir, rel=1e-9)
    # A little looser than the Bonferroni bound FPIR/N, never looser than FPIR itself.
    assert fpir / gallery_size * (1 - 1e-12) <= fmr <= fpir


def test_door_threshold_known_answer(uniform: Calibration) -> None:
    chosen = door_threshold(uniform, default_cos_threshold=0.3, fpir_target=1e-2, gallery_size=10)
    expected_fmr = 1.0 - 0.99**0.1

    assert chosen.fmr_per_comparison == pytest.approx(expected_fmr, rel=1e-12)
    assert chosen.cos_threshold == pytest.approx(1.0 - expected_fmr, abs=2e-5)
    assert "FPIR 1e-02 over 10 identities" in chosen.basis and chosen.fpir_target == 1e-2


def test_a_one_person_gallery_is_verification(uniform: Calibration) -> None:
    door = door_threshold(uniform, default_cos_threshold=0.3, fpir_target=1e-3, gallery_size=1)
    assert door.cos_threshold == pytest.approx(verification_threshold(uniform, 1e-3).cos_threshold, abs=1e-12)


def test_needed_fmr_below_the_measured_range_uses_the_strictest_measured_threshold(
    uniform: Calibration,
) -> None:
    chosen = door_threshold(uniform, default_cos_threshold=0.3, fpir_target=1e-3, gallery_size=1000)

    assert chosen.fmr_per_comparison is not None and chosen.fmr_per_comparison < 1 / IMPOSTOR_PAIRS
    assert chosen.cos_threshold == max(point.cos_threshold for point in uniform.curve)
    assert "strictest measured threshold" in chosen.basis


def test_no_target_uses_the_model_default_and_a_target_needs_a_calibration() -> None:
    chosen = door_threshold(None, default_cos_threshold=0.363, fpir_target=None, gallery_size=50)
    assert chosen.cos_threshold == 0.363 and chosen.fmr_per_comparison is None

    with pytest.raises(ValueError, match="calibrated model"):
        door_threshold(None, default_cos_threshold=0.363, fpir_target=1e-2, gallery_size=50)


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1])
def test_targets_outside_zero_one_are_refused(uniform: Calibration, target: float) -> None:
    with pytest.raises(ValueError):
        door_threshold(uniform, default_cos_threshold=0.3, fpir_target=target, gallery_size=10)
    with pytest.raises(ValueError):
        verification_threshold(uniform, target)


def test_sface_threshold_rises_with_the_gallery() -> None:
    """The committed SFace calibration (LFW): a bigger gallery needs a stricter threshold."""
    calibration = builtin_bundle("sface").calibration
    assert calibration is not None, "recognition/bundles/sface.json has no calibration"
    thresholds = [
        door_threshold(
            calibration, default_cos_threshold=0.363, fpir_target=1e-2, gallery_size=size
        ).cos_threshold
        for size in (1, 10, 100, 1000)
    ]

    assert thresholds == sorted(thresholds) and len(set(thresholds)) == len(thresholds)
    assert verification_threshold(calibration, 1e-3).cos_threshold == calibration.threshold_at(1e-3)


def test_margin_rule() -> None:
    rule = MarginRule(min_margin_cos=0.05, confusable_margin_cos=0.12)

    assert rule.passes(0.60, None, is_confusable=True)
    assert rule.passes(0.60, 0.54, is_confusable=False)
    assert not rule.passes(0.60, 0.56, is_confusable=False)
    assert not rule.passes(0.60, 0.50, is_confusable=True)
    assert rule.passes(0.60, 0.48, is_confusable=True)


@pytest.mark.parametrize(("minimum", "confusable"), [(-0.01, 0.1), (0.1, 0.05)])
def test_inconsistent_margins_are_refused(minimum: float, confusable: float) -> None:
    with pytest.raises(ValueError, match="margins"):
        MarginRule(min_margin_cos=minimum, confusable_margin_cos=confusable)
