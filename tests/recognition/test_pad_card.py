"""The PAD card's face-fill calibrations: one per photo colour, and cards written before colours were told
apart read with the colour their calibration's source records; the track rule's grey calibration; the basis an
operating threshold states."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recognition import (
    MINIFASNET_SOURCES,
    BpcerPoint,
    FaceFillCalibration,
    ModelLoadError,
    PadCalibration,
    PadCalibrationSource,
    face_fill_calibration_for,
    main_calibration_for,
    operating_attack_threshold,
    read_pad_card,
    with_face_fill_calibration,
    with_main_calibration,
    write_pad_card,
)


def _calibration(dataset: str, threshold: float, *, is_grayscale: bool | None) -> PadCalibration:
    """A calibration at BPCER 1%; `is_grayscale` None: no source recorded."""
    source = None
    if is_grayscale is not None:
        source = PadCalibrationSource(
            rule="every 2nd person", photo_count=10, paths_sha256="0" * 64, crop={}, detector={},
            is_grayscale=is_grayscale,
        )  # fmt: skip
    point = BpcerPoint(bpcer=0.01, attack_threshold=threshold)
    return PadCalibration(dataset=dataset, bona_fide_count=10, points=(point,), source=source)


def _card_json(**fields: Any) -> dict[str, Any]:
    pinned = MINIFASNET_SOURCES[0]
    net = {
        "variant": pinned.variant, "file": "v2.onnx", "sha256": "1" * 64, "scale": pinned.scale,
        "source_sha256": pinned.sha256,
    }  # fmt: skip
    return {"model_id": "minifasnet-test", "nets": [net], **fields}


def _read(tmp_path: Path, card: dict[str, Any]):
    path = tmp_path / "pad.json"
    path.write_text(json.dumps(card))
    return read_pad_card(path)


@pytest.mark.parametrize(("is_grayscale", "expected"), [(True, True), (False, False), (None, False)])
def test_a_card_written_before_colours_holds_its_one_face_fill_calibration_to_its_sources_colour(
    tmp_path: Path, is_grayscale: bool | None, expected: bool
) -> None:
    legacy = _calibration("headshots", 0.97, is_grayscale=is_grayscale)
    card = _read(tmp_path, _card_json(face_fill_calibration=legacy.model_dump(mode="json")))

    assert card.face_fill_calibrations == (FaceFillCalibration(is_grayscale=expected, calibration=legacy),)
    assert face_fill_calibration_for(card.face_fill_calibrations, is_grayscale=expected) == legacy
    assert face_fill_calibration_for(card.face_fill_calibrations, is_grayscale=not expected) is None
    write_pad_card(card, tmp_path / "again.json")  # written again in the new form, same meaning
    written = json.loads((tmp_path / "again.json").read_text())
    assert "face_fill_calibration" not in written and read_pad_card(tmp_path / "again.json") == card
    assert _read(tmp_path, _card_json(face_fill_calibration=None)).face_fill_calibrations == ()


def test_a_card_holds_at_most_one_face_fill_calibration_per_colour(tmp_path: Path) -> None:
    grey = FaceFillCalibration(is_grayscale=True, calibration=_calibration("grey", 0.97, is_grayscale=True))
    colour = FaceFillCalibration(
        is_grayscale=False, calibration=_calibration("colour", 0.63, is_grayscale=False)
    )
    card = _read(tmp_path, _card_json())

    both = with_face_fill_calibration(with_face_fill_calibration(card, colour), grey)
    assert both.face_fill_calibrations == (grey, colour)
    newer = FaceFillCalibration(
        is_grayscale=False, calibration=_calibration("colour 2", 0.5, is_grayscale=False)
    )
    assert with_face_fill_calibration(both, newer).face_fill_calibrations == (grey, newer)

    twice = [grey.model_dump(mode="json")] * 2
    with pytest.raises(ModelLoadError, match="one face-fill calibration for grey"):
        _read(tmp_path, _card_json(face_fill_calibrations=twice))
    legacy_and_new = _card_json(
        face_fill_calibration=grey.calibration.model_dump(mode="json"), face_fill_calibrations=[]
    )
    with pytest.raises(ModelLoadError, match="both set"):
        _read(tmp_path, legacy_and_new)


@pytest.mark.parametrize("is_grayscale", [True, False, None])
def test_a_card_written_before_grey_frames_had_their_own_calibration_reads_by_its_sources_colour(
    tmp_path: Path, is_grayscale: bool | None
) -> None:
    """Today's `calibration` is the colour one unless its source says grey (`pad calibrate --grayscale`
    wrote it there): then it holds grey frames only and colour ones fall to the authors' 0.5."""
    legacy = _calibration("LFW", 0.9, is_grayscale=is_grayscale)
    card = _read(tmp_path, _card_json(calibration=legacy.model_dump(mode="json")))

    if is_grayscale:
        assert (card.calibration, card.grey_calibration) == (None, legacy)
    else:
        assert (card.calibration, card.grey_calibration) == (legacy, None)
    write_pad_card(card, tmp_path / "again.json")
    assert read_pad_card(tmp_path / "again.json") == card


def test_the_main_calibration_comes_per_colour_and_grey_falls_back_to_colour(tmp_path: Path) -> None:
    colour = _calibration("LFW", 0.84, is_grayscale=False)
    grey = _calibration("LFW in grey", 0.99, is_grayscale=True)
    card = _read(tmp_path, _card_json(calibration=colour.model_dump(mode="json")))

    assert main_calibration_for(card.calibration, card.grey_calibration, is_grayscale=True) == (colour, False)
    both = with_main_calibration(card, grey, is_grayscale=True)
    assert (both.calibration, both.grey_calibration) == (colour, grey)
    pair = (both.calibration, both.grey_calibration)
    assert main_calibration_for(*pair, is_grayscale=True) == (grey, True)
    assert main_calibration_for(*pair, is_grayscale=False) == (colour, False)
    newer = _calibration("LFW 2", 0.8, is_grayscale=False)
    assert with_main_calibration(both, newer, is_grayscale=False).grey_calibration == grey

    colour_as_grey = _card_json(grey_calibration=colour.model_dump(mode="json"))
    with pytest.raises(ModelLoadError, match="grey_calibration was measured on colour photos"):
        _read(tmp_path, colour_as_grey)
    grey_twice = _card_json(
        calibration=grey.model_dump(mode="json"), grey_calibration=grey.model_dump(mode="json")
    )
    with pytest.raises(ModelLoadError, match="grey_calibration is set too"):
        _read(tmp_path, grey_twice)


def test_the_basis_names_the_calibrated_point_used_not_a_target_it_was_never_measured_at() -> None:
    points = (BpcerPoint(bpcer=0.01, attack_threshold=0.84), BpcerPoint(bpcer=0.1, attack_threshold=0.15))
    calibration = PadCalibration(dataset="LFW", bona_fide_count=1000, points=points)
    assert operating_attack_threshold(calibration, bpcer_target=0.01) == (0.84, "BPCER 0.01 on LFW")
    assert operating_attack_threshold(calibration, bpcer_target=0.05) == (
        0.84,
        "BPCER 0.01 on LFW, for target 0.05",
    )
    assert operating_attack_threshold(calibration, bpcer_target=0.1) == (0.15, "BPCER 0.1 on LFW")
    with pytest.raises(ModelLoadError, match="no point at BPCER <= 0.005"):
        operating_attack_threshold(calibration, bpcer_target=0.005)


def _rule_json(**fields: Any) -> dict[str, Any]:
    """A track rule as a card before its grey calibration wrote it (no `grey_calibration` key)."""
    point = {"bpcer": 0.01, "attack_threshold": 0.03}
    return {
        "features": ["passive", "frame_edges"], "centre": [0.6, 0.2], "scale": [0.3, 0.2],
        "weights": [0.08, 3.3], "intercept": -3.35, "fitted_on": "bench/pad_cues.py --seed 13",
        "calibration": {"dataset": "colour tracks", "bona_fide_count": 124, "points": [point]}, **fields,
    }  # fmt: skip


def test_the_track_rules_grey_calibration_loads_round_trips_and_leaves_its_hash_and_old_cards_alone(
    tmp_path: Path,
) -> None:
    """A rule written before it had a grey calibration loads with none (grey tracks keep its colour
    thresholds); one with it round-trips, holds grey tracks by it and colour ones by the colour thresholds,
    and has the same `rule_sha256` (thresholds are not coefficients)."""
    old = _read(tmp_path, _card_json(track_rule=_rule_json())).track_rule
    assert old is not None and old.grey_calibration is None
    assert old.calibration_for(is_grey=True) == (old.calibration, False)
    grey = _calibration("grey tracks", 0.031, is_grayscale=None)

    card = _read(tmp_path, _card_json(track_rule=_rule_json(grey_calibration=grey.model_dump(mode="json"))))

    rule = card.track_rule
    assert rule is not None and rule.grey_calibration == grey
    assert rule.rule_sha256 == old.rule_sha256
    assert rule.model_dump(exclude={"grey_calibration"}) == old.model_dump(exclude={"grey_calibration"})
    assert rule.calibration_for(is_grey=True) == (grey, True)
    assert rule.calibration_for(is_grey=False) == (old.calibration, False)
    write_pad_card(card, tmp_path / "again.json")
    assert read_pad_card(tmp_path / "again.json") == card


def test_a_track_rules_grey_calibration_with_attack_scores_or_of_colour_photos_is_refused(
    tmp_path: Path,
) -> None:
    """The rule's attack scores live beside it, per colour, never in a calibration; a grey calibration whose
    source says colour photos holds no grey tracks."""
    species = [{"species": "print", "scored_count": 1, "detection_failures": 0, "scores": [0.9]}]
    evidence = {"dataset": "sim", "paths_sha256": "a" * 64, "species": species}
    grey = _calibration("grey tracks", 0.031, is_grayscale=None).model_dump(mode="json")
    with_scores = _rule_json(grey_calibration={**grey, "attack_evidence": evidence})
    with pytest.raises(ModelLoadError, match="attack evidence belongs in its attack_evidence"):
        _read(tmp_path, _card_json(track_rule=with_scores))
    colour = _calibration("LFW", 0.031, is_grayscale=False).model_dump(mode="json")
    with pytest.raises(ModelLoadError, match="grey_calibration was measured on colour photos"):
        _read(tmp_path, _card_json(track_rule=_rule_json(grey_calibration=colour)))
