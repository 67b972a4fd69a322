"""judge_still (enrollment's and `eval pad`'s one decision on a still) and error rates from verdicts."""

from __future__ import annotations

import pytest

from recognition import (
    BpcerPoint,
    FaceFillCalibration,
    ModelLoadError,
    PadCalibration,
    PadScore,
    error_rates,
    judge_still,
    verdict_error_rates,
)


def _calibration(dataset: str, **thresholds: float) -> PadCalibration:
    points = tuple(
        BpcerPoint(bpcer=float(name.removeprefix("bpcer_")) / 100, attack_threshold=value)
        for name, value in thresholds.items()
    )
    return PadCalibration(dataset=dataset, bona_fide_count=1000, points=points)


SCENES = _calibration("scenes", bpcer_1=0.8, bpcer_5=0.4)
HEADSHOTS = _calibration("headshots", bpcer_1=0.95)
GREY = (FaceFillCalibration(is_grayscale=True, calibration=HEADSHOTS),)


def test_a_face_filling_still_is_held_to_the_face_fill_calibration_and_any_other_to_the_calibration() -> None:
    filling = PadScore(attack_score=0.9, cues={}, is_face_filling_frame=True, is_grayscale=True)
    scene = PadScore(attack_score=0.9, cues={}, is_grayscale=True)

    by_headshots = judge_still(filling, SCENES, GREY, bpcer_target=0.01)
    by_scenes = judge_still(scene, SCENES, GREY, bpcer_target=0.01)
    as_gate = judge_still(filling, SCENES, (), bpcer_target=0.01)

    assert (by_headshots.threshold, by_headshots.is_attack, by_headshots.is_face_fill_calibrated) == (
        0.95,
        False,
        True,
    )
    assert by_headshots.basis == "face filling the grey photo: BPCER 0.01 on headshots"
    assert (by_scenes.threshold, by_scenes.is_attack, by_scenes.is_face_fill_calibrated) == (0.8, True, False)
    assert (as_gate.threshold, as_gate.is_attack, as_gate.basis) == (0.8, True, "BPCER 0.01 on scenes")
    assert judge_still(scene, None, GREY, bpcer_target=0.01).basis == "uncalibrated"
    # The calibration a still is held to must have the target; the other one is not consulted.
    assert judge_still(scene, SCENES, GREY, bpcer_target=0.05).threshold == 0.4
    no_1_percent = (
        FaceFillCalibration(is_grayscale=True, calibration=_calibration("headshots", bpcer_5=0.9)),
    )
    with pytest.raises(ModelLoadError, match="headshots"):
        judge_still(filling, SCENES, no_1_percent, bpcer_target=0.01)


GREY_SCENES = _calibration("scenes in grey", bpcer_1=0.99)


def test_a_still_with_background_is_held_to_the_main_calibration_of_its_colour() -> None:
    """Grey live faces score far higher: a grey still is held to the grey calibration when the card has
    one; a colour still never is, and without one a grey still keeps the colour (strict) threshold."""
    grey = PadScore(attack_score=0.9, cues={}, is_grayscale=True)
    colour = PadScore(attack_score=0.9, cues={})

    by_grey = judge_still(grey, SCENES, (), bpcer_target=0.01, grey_calibration=GREY_SCENES)
    colour_by_colour = judge_still(colour, SCENES, (), bpcer_target=0.01, grey_calibration=GREY_SCENES)
    without_grey = judge_still(grey, SCENES, (), bpcer_target=0.01)

    assert (by_grey.threshold, by_grey.is_attack, by_grey.is_grey_calibrated) == (0.99, False, True)
    assert by_grey.basis == "grey photo: BPCER 0.01 on scenes in grey"
    assert (colour_by_colour.threshold, colour_by_colour.is_attack) == (0.8, True)
    assert not colour_by_colour.is_grey_calibrated
    assert (without_grey.threshold, without_grey.is_attack, without_grey.basis) == (
        0.8,
        True,
        "BPCER 0.01 on scenes",
    )
    # A face-filling grey still keeps its face-fill calibration (the grey main one: photos with background).
    filling = PadScore(attack_score=0.9, cues={}, is_face_filling_frame=True, is_grayscale=True)
    headshot = judge_still(filling, SCENES, GREY, bpcer_target=0.01, grey_calibration=GREY_SCENES)
    assert (headshot.threshold, headshot.is_face_fill_calibrated, headshot.is_grey_calibrated) == (
        0.95,
        True,
        False,
    )
    # A face-filling grey still without a face-fill calibration of its colour keeps the colour one.
    assert judge_still(filling, SCENES, (), bpcer_target=0.01, grey_calibration=GREY_SCENES).threshold == 0.8


def test_a_grey_calibration_without_the_target_leaves_a_grey_still_at_the_colour_threshold() -> None:
    """As the gate holds a grey track: a grey calibration with no point at or below the target holds no
    grey still at it (it raised), the colour one does (strict); at a target it has, it holds them."""
    grey = PadScore(attack_score=0.9, cues={}, is_grayscale=True)
    grey_5_percent = _calibration("scenes in grey", bpcer_5=0.99)

    at_1 = judge_still(grey, SCENES, (), bpcer_target=0.01, grey_calibration=grey_5_percent)
    at_5 = judge_still(grey, SCENES, (), bpcer_target=0.05, grey_calibration=grey_5_percent)

    assert (at_1.threshold, at_1.is_attack, at_1.is_grey_calibrated) == (0.8, True, False)
    assert at_1.basis == "BPCER 0.01 on scenes"
    assert (at_5.threshold, at_5.is_attack, at_5.basis) == (
        0.99,
        False,
        "grey photo: BPCER 0.05 on scenes in grey",
    )


def test_a_grey_calibration_without_the_target_holds_a_grey_still_where_its_nearest_is_stricter() -> None:
    """The missing grey point would be at least as strict as the grey 5% one: when that is lower than the
    colour threshold (a calibration set on other data), the colour one would be the lax choice, so the
    grey still is held to the grey 5% point; a face-filling grey still never is (another crop)."""
    grey = PadScore(attack_score=0.75, cues={}, is_grayscale=True)
    filling = PadScore(attack_score=0.75, cues={}, is_face_filling_frame=True, is_grayscale=True)
    strict_grey_5_percent = _calibration("scenes in grey", bpcer_5=0.7, bpcer_10=0.6)

    at_1 = judge_still(grey, SCENES, (), bpcer_target=0.01, grey_calibration=strict_grey_5_percent)
    close = judge_still(filling, SCENES, (), bpcer_target=0.01, grey_calibration=strict_grey_5_percent)

    assert (at_1.threshold, at_1.is_attack, at_1.is_grey_calibrated) == (0.7, True, True)
    assert at_1.basis == (
        "grey photo: BPCER 0.05 on scenes in grey, for target 0.01: stricter than the colour threshold 0.8"
    )
    assert (close.threshold, close.is_attack, close.is_grey_calibrated) == (0.8, False, False)


def test_a_face_filling_still_is_held_to_the_face_fill_calibration_of_its_colour_never_the_others() -> None:
    grey = PadScore(attack_score=0.9, cues={}, is_face_filling_frame=True, is_grayscale=True)
    colour = PadScore(attack_score=0.9, cues={}, is_face_filling_frame=True)
    colour_headshots = _calibration("colour headshots", bpcer_1=0.6)
    both = (*GREY, FaceFillCalibration(is_grayscale=False, calibration=colour_headshots))

    # The bug: a colour close-up was held to the grey calibration, the laxest threshold on the card.
    by_main = judge_still(colour, SCENES, GREY, bpcer_target=0.01)
    assert (by_main.threshold, by_main.is_attack, by_main.is_face_fill_calibrated) == (0.8, True, False)
    assert by_main.basis == "BPCER 0.01 on scenes"
    by_colour = judge_still(colour, SCENES, both, bpcer_target=0.01)
    assert (by_colour.threshold, by_colour.is_attack, by_colour.is_face_fill_calibrated) == (0.6, True, True)
    assert by_colour.basis == "face filling the colour photo: BPCER 0.01 on colour headshots"
    assert judge_still(grey, SCENES, both, bpcer_target=0.01).threshold == 0.95
    # A grey headshot with only the colour calibration: the card's calibration, not the colour one.
    only_colour = both[1:]
    assert judge_still(grey, SCENES, only_colour, bpcer_target=0.01).basis == "BPCER 0.01 on scenes"


def test_error_rates_from_verdicts_are_those_at_the_threshold_that_gave_them() -> None:
    bona, attacks = [0.1, 0.2, 0.9, 0.5], {"print": [0.95, 0.5, 0.3], "screen": [0.2], "none": []}
    for threshold in (0.0, 0.2, 0.5, 0.7, 1.0):
        verdicts = verdict_error_rates(
            [s > threshold for s in bona], {k: [s > threshold for s in v] for k, v in attacks.items()}
        )
        assert verdicts == error_rates(bona, attacks, threshold=threshold)
    assert set(verdicts.apcer_by_species) == {"print", "screen"}
