"""PAD thresholds and ISO/IEC 30107-3 rates against brute force over every candidate threshold (K4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recognition import (
    BoxCorrection,
    EvaluationDataError,
    bpcer_at_apcer,
    calibrate_pad,
    crop_scale_ratio,
    error_rate_upper_bound,
    error_rates,
    pad_crop,
    reference_box,
    threshold_at_bpcer,
)


def _bpcer(bona: np.ndarray, threshold: float) -> float:
    return sum(1 for s in bona if s > threshold) / len(bona)


@pytest.mark.parametrize("seed", range(5))
def test_threshold_at_bpcer_is_the_lowest_meeting_the_target(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bona = rng.beta(2, 5, size=int(rng.integers(100, 400)))
    for target in (0.01, 0.05, 0.1):
        threshold = threshold_at_bpcer(list(bona), target)
        assert _bpcer(bona, threshold) <= target
        lower = [s for s in bona if s < threshold]
        assert not lower or _bpcer(bona, max(lower)) > target


@pytest.mark.parametrize("seed", range(5))
def test_bpcer_at_apcer_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bona = rng.beta(2, 5, size=150)
    attacks = {"print": list(rng.beta(5, 2, size=60)), "screen": list(rng.beta(4, 3, size=80))}
    candidates = sorted({*bona, *(s for v in attacks.values() for s in v), -1.0, 2.0})
    for apcer in (0.05, 0.1):
        best = min(
            _bpcer(bona, t)
            for t in [*candidates, *(np.nextafter(c, -np.inf) for c in candidates)]
            if all(sum(1 for s in v if s <= t) / len(v) <= apcer for v in attacks.values())
        )
        assert bpcer_at_apcer(list(bona), attacks, apcer=apcer) == pytest.approx(best)


def test_error_rates_count_each_side_of_the_threshold() -> None:
    rates = error_rates([0.1, 0.2, 0.9], {"print": [0.95, 0.5], "screen": [0.2]}, threshold=0.5)
    assert rates.bpcer == pytest.approx(1 / 3)
    assert rates.apcer_by_species == {"print": 0.5, "screen": 1.0}
    assert rates.apcer_max == 1.0 and rates.acer == pytest.approx((1.0 + 1 / 3) / 2)


def test_calibration_needs_enough_photos_for_its_targets() -> None:
    with pytest.raises(EvaluationDataError, match="need 100"):
        calibrate_pad([0.1] * 5, dataset="few")
    assert [p.bpcer for p in calibrate_pad([0.1] * 50 + [0.2] * 10, dataset="sixty").points] == [0.05, 0.1]


def test_reference_box_widens_around_the_centre_and_stays_inside_the_frame() -> None:
    assert reference_box(1000, 1000, (450.0, 450.0, 100.0, 100.0), 2.0) == (400, 400, 600, 600)
    left, top, right, bottom = reference_box(300, 200, (0.0, 150.0, 80.0, 50.0), 4.0)
    assert 0 <= left < right <= 299 and 0 <= top < bottom <= 199
    assert BoxCorrection().apply((10, 20, 110, 220)) == (10.0, 20.0, 100.0, 200.0)


def test_a_replicated_border_keeps_the_crop_scale_where_the_reference_shrinks_it() -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(100, 100, 3), dtype=np.uint8)
    box = (25.0, 25.0, 50.0, 50.0)  # the window 4× this box is twice the frame

    reference = pad_crop(image, box, scale=4.0, side_px=80).astype(np.float32)
    replicated = pad_crop(image, box, scale=4.0, side_px=80, is_border_replicated=True).astype(np.float32)

    # The photo fills the reference patch; in the replicated one it fills the middle half, and each row's
    # left margin repeats that row's edge pixel.
    assert reference[:, :15].std(axis=1).mean() > 20
    assert replicated[:, :15].std(axis=1).mean() < 2
    assert replicated[25:55, 25:55].std() > 20


def test_crop_scale_ratio_is_the_share_of_the_scale_the_frame_keeps() -> None:
    assert crop_scale_ratio(1000, 1000, (450.0, 450.0, 100.0, 100.0), 2.0) == 1.0
    # A 60-px box in a 92x112 photo: the width allows (92 - 1) / 60 of a 4.0 scale.
    assert crop_scale_ratio(92, 112, (16.0, 26.0, 60.0, 60.0), 4.0) == pytest.approx(91 / 60 / 4.0)
    left, top, right, bottom = reference_box(92, 112, (16.0, 26.0, 60.0, 60.0), 4.0)
    assert right - left == pytest.approx(
        60 * 4.0 * crop_scale_ratio(92, 112, (16.0, 26.0, 60.0, 60.0), 4.0), abs=1
    )


def _binomial_cdf(errors: int, trials: int, rate: float) -> float:
    return sum(math.comb(trials, k) * rate**k * (1 - rate) ** (trials - k) for k in range(errors + 1))


@pytest.mark.parametrize(("errors", "trials"), [(0, 1), (0, 100), (0, 300), (1, 45), (3, 278), (7, 20)])
def test_error_rate_upper_bound_is_where_the_binomial_tail_reaches_five_percent(
    errors: int, trials: int
) -> None:
    bound = error_rate_upper_bound(errors, trials)
    assert _binomial_cdf(errors, trials, bound) == pytest.approx(0.05, abs=1e-9)
    # brute force over a grid: every rate below the bound still explains the count at 5% or more
    grid = np.linspace(errors / trials, 1.0, 2001)
    assert all(_binomial_cdf(errors, trials, rate) >= 0.05 - 1e-9 for rate in grid if rate < bound - 1e-9)


def test_error_rate_upper_bound_with_no_errors_is_about_the_rule_of_three() -> None:
    for trials in (100, 300, 1000):
        assert error_rate_upper_bound(0, trials) == pytest.approx(1 - 0.05 ** (1 / trials), rel=1e-9)
        assert error_rate_upper_bound(0, trials) == pytest.approx(3 / trials, rel=0.02)
    assert error_rate_upper_bound(5, 5) == 1.0


@pytest.mark.parametrize(
    ("errors", "trials", "confidence"), [(0, 0, 0.95), (4, 3, 0.95), (-1, 3, 0.95), (0, 3, 1.0)]
)
def test_error_rate_upper_bound_refuses_impossible_counts(
    errors: int, trials: int, confidence: float
) -> None:
    with pytest.raises(EvaluationDataError):
        error_rate_upper_bound(errors, trials, confidence=confidence)
