"""How one PAD-scored still is judged: the threshold it is held to, which calibration gave it, the verdict.

Enrollment judges every uploaded photo with `judge_still`, and `facegate eval pad` judges stills with the same
function, so that an evaluation of enrollment's PAD is enrollment's decision and not a copy of it. A photo
whose face fills the frame was scored from the face-fill crop (crop.py); the card's face-fill calibration
measured on photos of that photo's colour (grey or colour, `PadScore.is_grayscale`), when it has one, holds
such a photo to its own threshold, and a photo of a colour without one is held to the card's calibration,
never to the other colour's (a grey calibration is lax for colour photos). The gate never uses face-fill
calibrations (it never scores such frames): passing none judges a still by the gate's threshold.

Every other still (a face with background around it) is held to the card's main calibration of its colour:
a grey still to `grey_calibration` when the card has one with a point at the target, else to `calibration`
(the colour one). That
fallback is the safe default: MiniFASNet scores grey live faces far higher than colour ones, so the colour
threshold is the strictest for a grey still: it may refuse a live grey face, it never admits an attack that
the grey threshold would refuse.

`main_attack_threshold` is that rule for one colour, and the only place it is written: the gate holds a
track by it (of the card's calibrations or of its track rule's) and `facegate eval pad` a video's track, both
wording its basis by `track_basis`; `judge_still` holds a still with background by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from recognition.pad.card import FaceFillCalibration, PadCalibration
from recognition.pad.thresholds import (
    face_fill_calibration_for,
    grey_calibration_at,
    main_calibration_for,
    operating_attack_threshold,
    stricter_grey_threshold,
)
from recognition.types import PadScore


@dataclass(frozen=True)
class MainThreshold:
    """The attack-score threshold a frame, track or still with background of one colour is held to."""

    attack_threshold: float
    basis: str
    """Which point set it, as `operating_attack_threshold` or `stricter_grey_threshold` words it; the caller
    says what was held ('grey photo: ...', 'grey tracks: ...')."""
    is_grey_calibrated: bool
    """It came from the grey calibration: its point at the target, or its nearest one where stricter."""


def main_attack_threshold(
    calibration: PadCalibration | None,
    grey_calibration: PadCalibration | None,
    *,
    bpcer_target: float,
    is_grayscale: bool,
) -> MainThreshold:
    """The threshold at `bpcer_target` for a presentation of this colour with background: a grey one by
    `grey_calibration` when it has a point at or below the target, else (and every colour one) by
    `calibration` (the authors' 0.5 without one); a grey one whose grey calibration lacks the target by the
    lower of that and the grey calibration's nearest point (`stricter_grey_threshold`).

    Raises:
        ModelLoadError: the calibration used has no point at or below `bpcer_target`.
    """
    main, is_grey_main = main_calibration_for(
        calibration,
        grey_calibration_at(grey_calibration, bpcer_target=bpcer_target),
        is_grayscale=is_grayscale,
    )
    threshold, basis = operating_attack_threshold(main, bpcer_target=bpcer_target)
    stricter = stricter_grey_threshold(
        grey_calibration if is_grayscale else None, bpcer_target=bpcer_target, colour_threshold=threshold
    )
    if stricter is not None:
        return MainThreshold(attack_threshold=stricter[0], basis=stricter[1], is_grey_calibrated=True)
    return MainThreshold(attack_threshold=threshold, basis=basis, is_grey_calibrated=is_grey_main)


TRACK_RULE_BASIS = "track rule"
"""How the basis of a track decided by the card's track rule starts (its score is the rule's, not passive)."""


def track_basis(
    main: MainThreshold,
    grey_calibration: PadCalibration | None,
    *,
    bpcer_target: float,
    is_grayscale: bool,
    is_track_rule: bool,
) -> str:
    """The basis an event carries for a track of colour frames or (`is_grayscale`) of grey frames only held
    to `main` (`main_attack_threshold` of the card's calibrations, or of its track rule's when
    `is_track_rule`): what held a grey track ('grey frames: …', 'grey tracks: …' for a rule), or what it
    lacked when the colour threshold held it ('…, no grey calibration at BPCER 0.01' when the grey calibration
    has no point at the target, '…, no grey calibration' for a rule without one). The gate and `facegate eval
    pad` word a track's basis by it, so that a report and the gate's events say the same."""
    if main.is_grey_calibrated:
        basis = f"{'grey tracks' if is_track_rule else 'grey frames'}: {main.basis}"
    elif is_grayscale and grey_calibration is not None and not grey_calibration.has_point_at(bpcer_target):
        basis = f"{main.basis}, no grey calibration at BPCER {bpcer_target:g}"
    elif is_grayscale and is_track_rule:
        basis = f"{main.basis}, no grey calibration"
    else:
        basis = main.basis
    return f"{TRACK_RULE_BASIS}, {basis}" if is_track_rule else basis


@dataclass(frozen=True)
class StillVerdict:
    """One still's PAD verdict: attack when its attack score is above the threshold it was held to."""

    is_attack: bool
    attack_score: float
    threshold: float
    basis: str
    """What set the threshold: 'BPCER 0.01 on LFW', 'grey photo: BPCER 0.01 on LFW in grey' (the card's grey
    main calibration), 'face filling the grey photo: BPCER 0.01 on …' (or the colour photo), 'given'."""
    is_face_fill_calibrated: bool
    """The threshold came from one of the card's face-fill calibrations (the one of the photo's colour)."""
    is_grey_calibrated: bool = False
    """The threshold came from the card's grey main calibration (a grey still with background)."""


def judge_at_threshold(
    scored: PadScore,
    *,
    threshold: float,
    basis: str,
    is_face_fill_calibrated: bool = False,
    is_grey_calibrated: bool = False,
) -> StillVerdict:
    """The verdict of `scored` held to `threshold` (attack score above it: an attack)."""
    return StillVerdict(
        is_attack=scored.attack_score > threshold,
        attack_score=scored.attack_score,
        threshold=threshold,
        basis=basis,
        is_face_fill_calibrated=is_face_fill_calibrated,
        is_grey_calibrated=is_grey_calibrated,
    )


def judge_still(
    scored: PadScore,
    calibration: PadCalibration | None,
    face_fill_calibrations: tuple[FaceFillCalibration, ...],
    *,
    bpcer_target: float,
    grey_calibration: PadCalibration | None = None,
) -> StillVerdict:
    """Judge one still as enrollment does: a still scored with the face-fill crop by the face-fill
    calibration of its colour (`scored.is_grayscale`) at `bpcer_target` when there is one; every other still
    by the main calibration of its colour: a grey still with background by `grey_calibration` when given
    with a point at or below `bpcer_target`, else (and every colour still, and a face-filling still without
    a face-fill calibration of its colour) by `calibration` (the authors' 0.5 without one,
    `operating_attack_threshold`); a grey still with background whose grey calibration lacks the target
    by the lower of that and the grey calibration's nearest point (`main_attack_threshold`).

    Raises:
        ModelLoadError: the calibration used has no point at or below `bpcer_target`.
    """
    face_fill = (
        face_fill_calibration_for(face_fill_calibrations, is_grayscale=scored.is_grayscale)
        if scored.is_face_filling_frame
        else None
    )
    if face_fill is not None:
        threshold, basis = operating_attack_threshold(face_fill, bpcer_target=bpcer_target)
        colour = "grey" if scored.is_grayscale else "colour"
        return judge_at_threshold(
            scored,
            threshold=threshold,
            basis=f"face filling the {colour} photo: {basis}",
            is_face_fill_calibrated=True,
        )
    # A face-filling still is never held to the grey main calibration: measured on photos with background
    # (another crop), it is lax for grey headshots, which keep the colour one when no face-fill one is theirs.
    main = main_attack_threshold(
        calibration,
        grey_calibration,
        bpcer_target=bpcer_target,
        is_grayscale=scored.is_grayscale and not scored.is_face_filling_frame,
    )
    return judge_at_threshold(
        scored,
        threshold=main.attack_threshold,
        basis=f"grey photo: {main.basis}" if main.is_grey_calibrated else main.basis,
        is_grey_calibrated=main.is_grey_calibrated,
    )
