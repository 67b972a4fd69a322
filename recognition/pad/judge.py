"""How one PAD-scored still is judged: the threshold it is held to, which calibration gave it, the verdict.

Enrollment judges every uploaded photo with `judge_still`, and `facegate eval pad` judges stills with the same
function, so that an evaluation of enrollment's PAD is enrollment's decision and not a copy of it. A photo
whose face fills the frame was scored from the face-fill crop (crop.py); the card's face-fill calibration,
when it has one, holds such a photo to its own threshold. The gate never uses the face-fill calibration (it
never scores such frames): passing `face_fill_calibration=None` judges a still by the gate's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from recognition.pad.card import PadCalibration, operating_attack_threshold
from recognition.types import PadScore


@dataclass(frozen=True)
class StillVerdict:
    """One still's PAD verdict: attack when its attack score is above the threshold it was held to."""

    is_attack: bool
    attack_score: float
    threshold: float
    basis: str
    """What set the threshold: 'BPCER 0.01 on LFW', 'face filling the photo: BPCER 0.01 on …', 'given'."""
    is_face_fill_calibrated: bool
    """The threshold came from the card's face-fill calibration."""


def judge_at_threshold(
    scored: PadScore, *, threshold: float, basis: str, is_face_fill_calibrated: bool = False
) -> StillVerdict:
    """The verdict of `scored` held to `threshold` (attack score above it: an attack)."""
    return StillVerdict(
        is_attack=scored.attack_score > threshold,
        attack_score=scored.attack_score,
        threshold=threshold,
        basis=basis,
        is_face_fill_calibrated=is_face_fill_calibrated,
    )


def judge_still(
    scored: PadScore,
    calibration: PadCalibration | None,
    face_fill_calibration: PadCalibration | None,
    *,
    bpcer_target: float,
) -> StillVerdict:
    """Judge one still as enrollment does: by the face-fill calibration's threshold at `bpcer_target` when
    the still was scored with the face-fill crop and there is one, otherwise by `calibration`'s (the
    authors' 0.5 without one, `operating_attack_threshold`).

    Raises:
        ModelLoadError: the calibration used has no point at or below `bpcer_target`.
    """
    is_face_fill = scored.is_face_filling_frame and face_fill_calibration is not None
    used = face_fill_calibration if is_face_fill else calibration
    threshold, basis = operating_attack_threshold(used, bpcer_target=bpcer_target)
    return judge_at_threshold(
        scored,
        threshold=threshold,
        basis=f"face filling the photo: {basis}" if is_face_fill else basis,
        is_face_fill_calibrated=is_face_fill,
    )
