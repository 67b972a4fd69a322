"""Which of a PAD card's calibrations holds a frame or still, and its attack-score threshold at a target
BPCER.

A card may carry a colour and a grey main calibration and a face-fill calibration per colour (card.py says
why); these choose among them. The gate, `judge_still` and `eval pad` combine them in one place,
`judge.main_attack_threshold`, so that a door and a report never disagree on a threshold.
"""

from __future__ import annotations

import math

from recognition.pad.card import FaceFillCalibration, PadCalibration


def main_calibration_for(
    calibration: PadCalibration | None, grey_calibration: PadCalibration | None, *, is_grayscale: bool
) -> tuple[PadCalibration | None, bool]:
    """The main calibration that holds a frame or still (with background) of this colour, and whether it is
    the grey one: a grey one by `grey_calibration` when there is one, everything else by `calibration`.
    Falling back to the colour calibration is the safe default for the passive score on grey: grey bona fide
    scores run high, so the colour threshold refuses grey live faces (lockouts) rather than letting more
    attacks through; a track rule's colour thresholds may be lax on grey (`stricter_grey_threshold`)."""
    if is_grayscale and grey_calibration is not None:
        return grey_calibration, True
    return calibration, False


def grey_calibration_at(
    grey_calibration: PadCalibration | None, *, bpcer_target: float
) -> PadCalibration | None:
    """`grey_calibration` when it has a threshold at or below `bpcer_target`, else None: a grey calibration
    that cannot hold the target holds no grey track at it, which keeps the colour one (`main_calibration_for`)
    as if there were none."""
    if grey_calibration is None or not grey_calibration.has_point_at(bpcer_target):
        return None
    return grey_calibration


def stricter_grey_threshold(
    grey_calibration: PadCalibration | None, *, bpcer_target: float, colour_threshold: float
) -> tuple[float, str] | None:
    """For grey tracks or stills whose grey calibration has no point at or below `bpcer_target` (which keep
    the colour threshold, `grey_calibration_at`): its point nearest the target from above, with its basis,
    when that threshold is lower than `colour_threshold`, else None. The missing point's threshold would be
    at least as high as that point's, so holding grey to the lower of the two is never laxer than either
    calibration: the colour one may be lax on grey (a track rule set on photos with edges, while its grey
    points came from edge-free tracks), and the nearest grey point only refuses more grey live faces."""
    if grey_calibration is None or grey_calibration.has_point_at(bpcer_target):
        return None
    nearest = min(grey_calibration.points, key=lambda p: p.bpcer, default=None)
    if nearest is None or nearest.attack_threshold >= colour_threshold:
        return None
    return nearest.attack_threshold, (
        f"BPCER {nearest.bpcer:g} on {grey_calibration.dataset}, for target {bpcer_target:g}: stricter than "
        f"the colour threshold {colour_threshold:.6g}"
    )


def face_fill_calibration_for(
    calibrations: tuple[FaceFillCalibration, ...], *, is_grayscale: bool
) -> PadCalibration | None:
    """The calibration among `calibrations` measured on photos of this colour, or None."""
    return next((c.calibration for c in calibrations if c.is_grayscale == is_grayscale), None)


UNCALIBRATED_ATTACK_THRESHOLD = 0.5
"""The authors' rule (the bona fide class must win the averaged softmax), used only without a calibration."""


def operating_attack_threshold(
    calibration: PadCalibration | None, *, bpcer_target: float
) -> tuple[float, str]:
    """The attack-score threshold at `bpcer_target` and its basis ('BPCER 0.01 on LFW' or 'uncalibrated').

    The basis names the calibrated point the threshold is, which is stricter than the target when the
    card has no point at the target itself ('BPCER 0.01 on LFW, for target 0.05'): an audit event must not
    claim a BPCER its threshold was never measured at.

    Raises:
        ModelLoadError: the calibration has no point at or below the target.
    """
    if calibration is None:
        return UNCALIBRATED_ATTACK_THRESHOLD, "uncalibrated"
    point = calibration.point_at(bpcer_target)
    basis = f"BPCER {point.bpcer:g} on {calibration.dataset}"
    if not math.isclose(point.bpcer, bpcer_target, rel_tol=1e-9, abs_tol=1e-12):
        basis += f", for target {bpcer_target:g}"
    return point.attack_threshold, basis
