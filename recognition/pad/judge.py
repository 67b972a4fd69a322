"""How one PAD-scored still is judged: the threshold it is held to, which calibration gave it, the verdict.

Enrollment judges every uploaded photo with `judge_still`, and `facegate eval pad` judges stills with the same
function, so that an evaluation of enrollment's PAD is enrollment's decision and not a copy of it. A photo
whose face fills the frame was scored from the face-fill crop (crop.py); the card's face-fill calibration
measured on photos of that photo's colour (grey or colour, `PadScore.is_grayscale`), when it has one, holds
such a photo to its own threshold, and a photo of a colour without one is held to the card's calibration,
never to the other colour's (a grey calibration is lax for colour photos). The gate never uses face-fill
calibrations (it never scores such frames): passing none judges a still by the gate's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from recognition.pad.card import (
    FaceFillCalibration,
    PadCalibration,
    face_fill_calibration_for,
    operating_attack_threshold,
)
from recognition.types import PadScore


@dataclass(frozen=True)
class StillVerdict:
    """One still's PAD verdict: attack when its attack score is above the threshold it was held to."""

    is_attack: bool
    attack_score: float
    threshold: float
    basis: str
    """What set the threshold: 'BPCER 0.01 on LFW', 'face filling the grey photo: BPCER 0.01 on …' (or the
    colour photo), 'given'."""
    is_face_fill_calibrated: bool
    """The threshold came from one of the card's face-fill calibrations (the one of the photo's colour)."""


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
    face_fill_calibrations: tuple[FaceFillCalibration, ...],
    *,
    bpcer_target: float,
) -> StillVerdict:
    """Judge one still as enrollment does: a still scored with the face-fill crop by the face-fill
    calibration of its colour (`scored.is_grayscale`) at `bpcer_target` when there is one, every other still
    by `calibration`'s (the authors' 0.5 without one, `operating_attack_threshold`).

    Raises:
        ModelLoadError: the calibration used has no point at or below `bpcer_target`.
    """
    face_fill = (
        face_fill_calibration_for(face_fill_calibrations, is_grayscale=scored.is_grayscale)
        if scored.is_face_filling_frame
        else None
    )
    threshold, basis = operating_attack_threshold(face_fill or calibration, bpcer_target=bpcer_target)
    if face_fill is not None:
        basis = f"face filling the {'grey' if scored.is_grayscale else 'colour'} photo: {basis}"
    return judge_at_threshold(
        scored, threshold=threshold, basis=basis, is_face_fill_calibrated=face_fill is not None
    )
