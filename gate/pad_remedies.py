"""Why a door's PAD cannot start as configured, and what gives it a threshold (texts of its refusals)."""

from __future__ import annotations

import math

from gate.errors import ThresholdUnavailable
from recognition import CALIBRATED_BPCERS, ModelLoadError


def check_door_rule(where: str, measured_sha256: str | None, *, rule_sha256: str) -> None:
    """A door calibration of the track rule's score holds only the rule its events were decided by."""
    if measured_sha256 == rule_sha256:
        return
    measured = "an unknown track rule (written before it was recorded)"
    if measured_sha256 is not None:
        measured = f"track rule {measured_sha256[:12]}"
    raise ThresholdUnavailable(
        f"{where}: its PAD door_calibration was measured with {measured}, the card's track rule is "
        f"{rule_sha256[:12]} (refit: other coefficients); calibrate it again from monitor events of this rule"
    )


def pad_remedy(*, is_rule: bool, is_grey: bool, target: float) -> str:
    """What gives a door a threshold of this score and colour at `target`: a target the calibration has, or
    a calibration with a point at or below it (and how many bona fide photos or tracks that takes)."""
    remedy = "set the door's pad.bpcer_target to a calibrated point"
    reachable = [bpcer for bpcer in CALIBRATED_BPCERS if bpcer <= target + 1e-12]
    if not reachable:
        return f"{remedy} (no card calibration has one below BPCER {min(CALIBRATED_BPCERS):g})"
    count = math.ceil(1 / max(reachable) - 1e-9)
    if is_rule and is_grey:
        how = f"`bench/pad_cues.py --grey --card-rule --write-card`, at least {count} grey bona fide tracks"
    elif is_rule:
        how = f"refit it: `bench/pad_cues.py --calibrate-stills DIR --write-card`, at least {count} photos"
    else:
        how = (
            f"`facegate pad calibrate{' --grayscale' if is_grey else ''}`, at least {count} bona fide photos"
        )
    return f"{remedy}, or calibrate it at {max(reachable):g} ({how})"


def no_threshold_message(where: str, exc: ModelLoadError, *, is_rule: bool, target: float) -> str:
    """Why a door cannot start: the colour calibration has no threshold at its target, and what to do."""
    score = "the track rule's" if is_rule else "the card's"
    return (
        f"{where}: no PAD threshold at its bpcer_target {target:g} in {score} colour calibration: {exc}; "
        f"{pad_remedy(is_rule=is_rule, is_grey=False, target=target)}"
    )
