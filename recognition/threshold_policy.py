"""Threshold policy: from an operator's false-accept target to the cosine threshold a decision uses.

1:1 verification compares a probe with one claimed identity, so its threshold is the model's calibrated
threshold at the target false-match rate (FMR) per comparison. At the door the probe is searched
against every enrolled person, so a stranger gets N chances to match someone: the false-positive
identification rate is FPIR ≈ 1 − (1 − FMR)^N. Holding FPIR at the operator's target therefore needs
FMR = 1 − (1 − FPIR)^(1/N) per comparison, read off the calibrated curve, and the threshold rises as
the gallery grows.

Fail-safe rule: when the needed FMR is below the lowest FMR the calibration measured (it had too few
impostor pairs), the strictest measured threshold is used and `basis` says so; a looser threshold is
never substituted, and no threshold is extrapolated beyond the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recognition.bundle import Calibration


@dataclass(frozen=True)
class OperatingThreshold:
    """The threshold a decision used and why, so every decision can report it."""

    cos_threshold: float
    fmr_per_comparison: float | None
    """The FMR per comparison the threshold was read at; None for the model's default threshold."""
    fpir_target: float | None
    gallery_size: int
    basis: str
    """One sentence for the audit log: which rule and which data chose this threshold."""


def fmr_for_fpir(fpir_target: float, gallery_size: int) -> float:
    """Per-comparison FMR that keeps a search of `gallery_size` identities at `fpir_target`.

    Computed as −expm1(log1p(−FPIR) / N), which is 1 − (1 − FPIR)^(1/N) without the cancellation
    that loses digits for small FPIR and large N. An empty gallery counts as one identity.

    Raises:
        ValueError: `fpir_target` is not in (0, 1).
    """
    if not 0.0 < fpir_target < 1.0:
        raise ValueError(f"FPIR target {fpir_target} must be strictly between 0 and 1")
    return -math.expm1(math.log1p(-fpir_target) / max(1, gallery_size))


def _threshold_at_fmr(calibration: Calibration, fmr: float) -> tuple[float, str]:
    strictest = min(calibration.curve, key=lambda point: point.far)
    if fmr < max(strictest.far, calibration.min_measurable_far):
        return strictest.cos_threshold, (
            f"needed FMR {fmr:.2e} is below the lowest FMR measured ({strictest.far:.2e}); "
            f"using the strictest measured threshold (the real rate may be higher), calibrated on "
            f"{calibration.dataset}"
        )
    return calibration.threshold_at(fmr), f"calibrated on {calibration.dataset}"


def verification_threshold(calibration: Calibration, far_target: float) -> OperatingThreshold:
    """1:1: the calibrated threshold at `far_target` false matches per comparison.

    Raises:
        ValueError: `far_target` is not in (0, 1).
    """
    if not 0.0 < far_target < 1.0:
        raise ValueError(f"FAR target {far_target} must be strictly between 0 and 1")
    cos_threshold, source = _threshold_at_fmr(calibration, far_target)
    return OperatingThreshold(
        cos_threshold=cos_threshold,
        fmr_per_comparison=far_target,
        fpir_target=None,
        gallery_size=1,
        basis=f"1:1 at FAR {far_target:.0e}; {source}",
    )


def door_threshold(
    calibration: Calibration | None,
    *,
    default_cos_threshold: float,
    fpir_target: float | None,
    gallery_size: int,
) -> OperatingThreshold:
    """1:N at the door: the threshold that holds a search of this gallery at `fpir_target`.

    Args:
        calibration: the active bundle's calibration.
        default_cos_threshold: the model's default, used when no FPIR target is set.
        fpir_target: share of never-enrolled people allowed to match someone; None for the default.
        gallery_size: enrolled identities searched (not templates: a person counts once).

    Raises:
        ValueError: a target is set but the model has no calibration (the gate must refuse to start
            rather than guess a threshold), or the target is not in (0, 1).
    """
    if fpir_target is None:
        return OperatingThreshold(
            cos_threshold=default_cos_threshold,
            fmr_per_comparison=None,
            fpir_target=None,
            gallery_size=gallery_size,
            basis="the model's default threshold (no FPIR target configured)",
        )
    if calibration is None:
        raise ValueError(
            f"an FPIR target of {fpir_target} needs a calibrated model: run `facegate models calibrate`"
        )
    fmr = fmr_for_fpir(fpir_target, gallery_size)
    cos_threshold, source = _threshold_at_fmr(calibration, fmr)
    return OperatingThreshold(
        cos_threshold=cos_threshold,
        fmr_per_comparison=fmr,
        fpir_target=fpir_target,
        gallery_size=gallery_size,
        basis=(
            f"1:N FPIR {fpir_target:.0e} over {gallery_size} identities → FMR {fmr:.2e} per comparison; "
            f"{source}"
        ),
    )


@dataclass(frozen=True)
class MarginRule:
    """The best identity must beat the runner-up identity by a margin; more for known look-alikes.

    `confusable_margin_cos` applies when the best identity is in a confusable pair (twins, siblings,
    one person enrolled twice: `facegate people confusable`), where a small lead means little.
    """

    min_margin_cos: float
    confusable_margin_cos: float

    def __post_init__(self) -> None:
        if self.min_margin_cos < 0.0 or self.confusable_margin_cos < self.min_margin_cos:
            raise ValueError(
                f"margins must satisfy 0 ≤ min_margin_cos ({self.min_margin_cos}) ≤ "
                f"confusable_margin_cos ({self.confusable_margin_cos})"
            )

    def required_margin_cos(self, *, is_confusable: bool) -> float:
        return self.confusable_margin_cos if is_confusable else self.min_margin_cos

    def passes(self, best: float, runner_up: float | None, *, is_confusable: bool) -> bool:
        """Whether `best` (cosine) leads `runner_up` (None: no other identity) by the required margin."""
        if runner_up is None:
            return True
        return best - runner_up >= self.required_margin_cos(is_confusable=is_confusable)
