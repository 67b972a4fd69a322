"""PAD in the gate: per-door policy over a track's frames, real MiniFASNet on the authors' sample photos."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from gate import (
    CAMERA_UNAVAILABLE,
    PAD_CUE_NAMES,
    PAD_FACE_TOO_CLOSE,
    PRESENTATION_ATTACK,
    DoorColourCalibration,
    DoorPadCalibration,
    GateSettings,
    PadSettings,
    SourceOutage,
)
from gate.errors import ThresholdUnavailable
from recognition import (
    PASSIVE_FEATURE,
    BpcerPoint,
    FaceFillCalibration,
    PadCalibration,
    PresentationAttackDetector,
    Recognizer,
    attack_video,
)
from storage import Decision, Engine, Keyring
from tests.data import encode_jpeg
from tests.gate.pad_support import NOON, run_pad_gate
from tests.gate.pad_support import calibration_at as _at
from tests.gate.pad_support import grey as _grey
from tests.gate.pad_support import hand_set_rule as _hand_set_rule
from tests.gate.pad_support import pad_with as _pad_with
from tests.gate.pad_support import sample as _sample
from tests.storage.audit_helpers import sql, verify

pytestmark = pytest.mark.model


def _run(engine: Engine, keyring: Keyring, recognizer: Recognizer, pad, frames, policy: str):
    settings = GateSettings(pad=PadSettings(policy=policy))  # type: ignore[arg-type]
    settings.decision.cooldown_s = 0.0
    return run_pad_gate(engine, keyring, recognizer, pad, frames, settings=settings)


@pytest.fixture
def enrolled(enroll_person) -> dict[str, int]:
    return {name: enroll_person(name, encode_jpeg(_sample(f"image_{name}.jpg"))) for name in ("T1", "F1")}


def test_enforce_denies_the_photo_attack_and_grants_the_live_face(
    engine, keyring, recognizer, pad_detector: PresentationAttackDetector, enrolled
) -> None:
    empty = np.full_like(_sample("image_T1.jpg"), 96)  # the first track ends before the next face
    frames = [_sample("image_F1.jpg")] * 5 + [empty] * 7 + [_sample("image_T1.jpg")] * 5

    decisions, events = _run(engine, keyring, recognizer, pad_detector, frames, "enforce")

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.denied, PRESENTATION_ATTACK),
        (Decision.granted, "match"),
    ]
    attack, live = events
    assert attack.person_id == enrolled["F1"] and live.person_id == enrolled["T1"]
    for event in events:
        assert event.pad_model_id == pad_detector.model_id
        assert event.pad_weights_hash == pad_detector.weights_sha256
        cues = json.loads(event.pad_cues)
        assert cues["policy"] == "enforce" and cues["frames"] == 3
        assert {"v2_live", "v1se_live"} <= cues.keys()
        assert event.pad_score == pytest.approx(1 - (cues["v2_live"] + cues["v1se_live"]) / 2, abs=1e-3)
    assert attack.pad_score > attack.pad_threshold >= live.pad_score
    assert json.loads(attack.pad_cues)["verdict"] == "attack"


def test_monitor_records_the_would_be_verdict_and_denies_nothing(
    engine, keyring, recognizer, pad_detector, enrolled
) -> None:
    decisions, events = _run(
        engine, keyring, recognizer, pad_detector, [_sample("image_F1.jpg")] * 5, "monitor"
    )

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [(Decision.granted, "match")]
    assert json.loads(events[0].pad_cues)["verdict"] == "attack"
    assert events[0].pad_score > events[0].pad_threshold


def _face_filling_the_frame(recognizer: Recognizer, photo: np.ndarray) -> np.ndarray:
    """The photo cut to its face box (a face held right up to the camera), upscaled 3x."""
    x1, y1, x2, y2 = recognizer.detect(photo)[0].bbox
    return cv2.resize(photo[max(0, y1) : y2, max(0, x1) : x2], None, fx=3.0, fy=3.0)


@pytest.mark.parametrize(
    ("policy", "expected"), [("enforce", Decision.denied), ("monitor", Decision.granted)]
)
def test_a_face_filling_every_frame_is_not_judged_by_pad_and_enforce_asks_it_to_step_back(
    engine, keyring, recognizer, pad_detector, enrolled, policy: str, expected: Decision
) -> None:
    close = _face_filling_the_frame(recognizer, _sample("image_T1.jpg"))
    face = recognizer.detect(close)[0]
    assert pad_detector.is_face_filling_frame(close, face)
    assert pad_detector.score(close, face).is_face_filling_frame

    decisions, events = _run(engine, keyring, recognizer, pad_detector, [close] * 5, policy)

    assert [d.verdict.decision for d in decisions] == [expected]
    if expected is Decision.denied:
        assert decisions[0].verdict.reason == PAD_FACE_TOO_CLOSE
    cues = json.loads(events[0].pad_cues)
    assert cues["verdict"] == "face_too_close" and cues["frames"] == 0 and cues["frames_too_close"] >= 1
    assert events[0].pad_score is None


def test_pad_fields_are_under_the_audit_mac(engine, keyring, recognizer, pad_detector, enrolled) -> None:
    _run(engine, keyring, recognizer, pad_detector, [_sample("image_F1.jpg")] * 5, "enforce")
    assert verify(engine, keyring).is_ok

    sql(engine, "UPDATE audit_event SET pad_score = 0.01")

    assert not verify(engine, keyring).is_ok


def test_off_runs_no_pad_and_a_policy_without_the_model_refuses_to_start(
    engine, keyring, recognizer, enrolled
) -> None:
    decisions, events = _run(engine, keyring, recognizer, None, [_sample("image_F1.jpg")] * 5, "off")
    assert decisions[0].verdict.decision is Decision.granted and events[0].pad_score is None
    with pytest.raises(ThresholdUnavailable, match="needs the PAD model"):
        _run(engine, keyring, recognizer, None, [_sample("image_F1.jpg")], "enforce")


def test_a_face_fill_calibration_leaves_the_gate_on_the_cards_calibration(
    engine, keyring, recognizer, pad_model_dir, tmp_path, enrolled
) -> None:
    """Face-fill calibrations are for stills (enrollment headshots); ones that let everything through, grey
    and colour, change nothing at the door, which decides by the card's calibration (here none: 0.5)."""
    lax = PadCalibration(
        dataset="headshots", bona_fide_count=100, points=(BpcerPoint(bpcer=0.01, attack_threshold=1.0),)
    )
    both = tuple(FaceFillCalibration(is_grayscale=grey, calibration=lax) for grey in (True, False))
    pad = _pad_with(pad_model_dir, tmp_path, face_fill_calibrations=both)

    decisions, events = _run(engine, keyring, recognizer, pad, [_sample("image_F1.jpg")] * 5, "enforce")

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.denied, PRESENTATION_ATTACK)
    ]
    assert events[0].pad_threshold == 0.5


def test_the_track_rule_decides_an_attack_track_and_every_cue_is_audited(
    engine, keyring, recognizer, pad_model_dir, tmp_path, enrolled
) -> None:
    rule = _hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
    pad = _pad_with(pad_model_dir, tmp_path, track_rule=rule)
    live = _sample("image_T1.jpg")
    phone = attack_video(live, "screen_replay", np.random.default_rng(1), frames=6)
    frames = [*phone, *[np.full_like(live, 96)] * 7, *[live] * 5]

    decisions, events = _run(engine, keyring, recognizer, pad, frames, "enforce")

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.denied, PRESENTATION_ATTACK),
        (Decision.granted, "match"),
    ]
    for event in events:
        cues = json.loads(event.pad_cues)
        assert set(PAD_CUE_NAMES) <= cues.keys() and cues["basis"].startswith("track rule")
        assert event.pad_threshold == 0.5
        assert event.pad_score == pytest.approx(rule.score(cues), abs=1e-3)
    attack_cues = json.loads(events[0].pad_cues)
    assert attack_cues["frame_edges"] > json.loads(events[1].pad_cues)["frame_edges"]
    assert verify(engine, keyring).is_ok


def test_a_track_rule_weighing_an_unknown_cue_refuses_to_start(
    engine, keyring, recognizer, pad_model_dir, tmp_path, enrolled
) -> None:
    pad = _pad_with(pad_model_dir, tmp_path, track_rule=_hand_set_rule((PASSIVE_FEATURE, "thermal_camera")))

    with pytest.raises(ThresholdUnavailable, match="unknown cues: thermal_camera"):
        _run(engine, keyring, recognizer, pad, [_sample("image_T1.jpg")], "enforce")


def test_a_track_of_grey_frames_is_held_to_the_cards_grey_calibration_a_mixed_one_to_colour(
    engine, keyring, recognizer, pad_model_dir, pad_detector, tmp_path, enrolled
) -> None:
    """The live face in grey scores higher than the colour threshold set here (as grey live faces do
    against the card's colour 0.8440) and below the grey one: a grey track is granted by the grey
    calibration and records it; the same card holds a track with a colour frame, and a card without a grey
    calibration every track, to the colour threshold, which denies it."""
    live = _sample("image_T1.jpg")
    grey = _grey(live)
    grey_score = pad_detector.score(grey, recognizer.detect(grey)[0]).attack_score
    colour_threshold, grey_threshold = grey_score / 2, (grey_score + 1.0) / 2
    both = _pad_with(
        pad_model_dir,
        tmp_path / "both",
        calibration=_at("LFW", colour_threshold),
        grey_calibration=_at("LFW in grey", grey_threshold),
    )
    colour_only = _pad_with(pad_model_dir, tmp_path / "colour", calibration=_at("LFW", colour_threshold))
    gap = [np.full_like(live, 96)] * 7  # ends the track before the next one

    decisions, events = _run(
        engine, keyring, recognizer, both, [*[grey] * 5, *gap, *[grey] * 2, *[live] * 3], "enforce"
    )
    _, old_events = _run(engine, keyring, recognizer, colour_only, [grey] * 5, "enforce")

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.granted, "match"),
        (Decision.denied, PRESENTATION_ATTACK),
    ]
    grey_track, mixed_track = (json.loads(e.pad_cues) for e in events[:2])
    assert events[0].pad_threshold == pytest.approx(grey_threshold)
    assert (grey_track["colour"], grey_track["basis"]) == ("grey", "grey frames: BPCER 0.01 on LFW in grey")
    assert events[1].pad_threshold == pytest.approx(colour_threshold)
    assert (mixed_track["colour"], mixed_track["basis"]) == ("colour", "BPCER 0.01 on LFW")
    no_grey = json.loads(old_events[-1].pad_cues)
    assert old_events[-1].decision is Decision.denied and old_events[-1].reason == PRESENTATION_ATTACK
    assert old_events[-1].pad_threshold == pytest.approx(colour_threshold)
    assert (no_grey["colour"], no_grey["basis"]) == ("grey", "BPCER 0.01 on LFW")
    assert verify(engine, keyring).is_ok  # the colour basis is inside the MAC-covered cues


def test_a_grey_track_is_held_to_the_track_rules_grey_calibration_a_colour_one_to_its_colour_thresholds(
    engine, keyring, recognizer, pad_model_dir, tmp_path, enrolled, caplog
) -> None:
    """The same rule (same coefficients and hash) with a grey calibration: its colour threshold, set below the
    colour track's rule score here, and a grey one above the grey track's. The grey track is granted at the
    grey threshold, the colour track denied at the colour one; without the grey calibration (every card
    before it) the grey track is held to the colour threshold, denied, and the basis and log say so; a
    door's own grey calibration still wins over the rule's."""
    rule = _hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
    live = _sample("image_T1.jpg")
    frames = [*[_grey(live)] * 5, *[np.full_like(live, 96)] * 7, *[live] * 5]
    with_rule = _pad_with(pad_model_dir, tmp_path / "m", track_rule=rule)
    _, measured = _run(engine, keyring, recognizer, with_rule, frames, "monitor")
    grey_score, colour_score = (e.pad_score for e in measured)
    assert grey_score is not None and colour_score is not None
    colour_at, grey_at = colour_score / 2, (grey_score + 1.0) / 2
    assert grey_score > colour_at
    colour_only = rule.model_copy(update={"calibration": _at("colour tracks", colour_at)})
    both = colour_only.model_copy(update={"grey_calibration": _at("grey tracks", grey_at)})
    assert both.rule_sha256 == colour_only.rule_sha256 == rule.rule_sha256

    with_both = _pad_with(pad_model_dir, tmp_path / "b", track_rule=both)
    decisions, events = _run(engine, keyring, recognizer, with_both, frames, "enforce")
    with caplog.at_level("WARNING", logger="gate.pad"):
        old_decisions, old_events = _run(
            engine, keyring, recognizer, _pad_with(pad_model_dir, tmp_path / "c", track_rule=colour_only),
            frames, "enforce",
        )  # fmt: skip

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.granted, "match"),
        (Decision.denied, PRESENTATION_ATTACK),
    ]
    grey_event, colour_event = events[2:4]
    grey_cues, colour_cues = json.loads(grey_event.pad_cues), json.loads(colour_event.pad_cues)
    assert (grey_event.pad_score, grey_event.pad_threshold) == (
        pytest.approx(grey_score),
        pytest.approx(grey_at),
    )
    assert (grey_cues["colour"], grey_cues["basis"]) == (
        "grey",
        "track rule, grey tracks: BPCER 0.01 on grey tracks",
    )
    assert colour_event.pad_threshold == pytest.approx(colour_at)
    assert (colour_cues["colour"], colour_cues["basis"]) == (
        "colour",
        "track rule, BPCER 0.01 on colour tracks",
    )
    assert grey_cues["track_rule_sha256"] == colour_cues["track_rule_sha256"] == rule.rule_sha256
    assert [(d.verdict.decision, d.verdict.reason) for d in old_decisions] == [
        (Decision.denied, PRESENTATION_ATTACK),
        (Decision.denied, PRESENTATION_ATTACK),
    ]
    old_grey = old_events[4]
    assert old_grey.pad_threshold == pytest.approx(colour_at)
    assert (
        json.loads(old_grey.pad_cues)["basis"]
        == "track rule, BPCER 0.01 on colour tracks, no grey calibration"
    )
    assert any("has no grey calibration" in r.getMessage() for r in caplog.records)
    assert verify(engine, keyring).is_ok

    door_grey = DoorColourCalibration(
        attack_threshold=colour_at, event_count=500, first_event_at=NOON, last_event_at=NOON
    )
    door = DoorPadCalibration(
        pad_weights_sha256=with_both.weights_sha256, score="track_rule", track_rule_sha256=rule.rule_sha256,
        bpcer_target=0.01, grey=door_grey,
    )  # fmt: skip
    settings = GateSettings(pad=PadSettings(policy="enforce", door_calibration=door))
    settings.decision.cooldown_s = 0.0
    door_decisions, door_events = run_pad_gate(
        engine, keyring, recognizer, with_both, frames[:5], settings=settings
    )
    assert [d.verdict.decision for d in door_decisions] == [Decision.denied]
    assert door_events[-1].pad_threshold == pytest.approx(colour_at)
    assert json.loads(door_events[-1].pad_cues)["basis"].startswith(
        "track rule, grey frames: door calibration"
    )


def _gap_card(is_rule: bool, *, colour: PadCalibration, grey: PadCalibration) -> dict[str, object]:
    """Card fields whose deciding score (the hand-set rule's, or the passive mean) has these calibrations."""
    if is_rule:
        rule = _hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
        return {"track_rule": rule.model_copy(update={"calibration": colour, "grey_calibration": grey})}
    return {"calibration": colour, "grey_calibration": grey}


def _points(dataset: str, threshold: float, *bpcers: float) -> PadCalibration:
    points = tuple(BpcerPoint(bpcer=b, attack_threshold=threshold) for b in bpcers)
    return PadCalibration(dataset=dataset, bona_fide_count=50, points=points)


def _grey_track_and_score(
    engine, keyring, recognizer, pad_model_dir, tmp_path, is_rule: bool
) -> tuple[list[np.ndarray], float]:
    """Five grey frames of the live sample and the deciding score their track gets (a monitor run)."""
    grey = [_grey(_sample("image_T1.jpg"))] * 5
    probe = _gap_card(is_rule, colour=_at("colour", 0.5), grey=_at("grey", 0.5))
    _, measured = _run(
        engine, keyring, recognizer, _pad_with(pad_model_dir, tmp_path / "m", **probe), grey, "monitor"
    )
    score = measured[0].pad_score
    assert score is not None and 0.0 < score < 1.0
    return grey, score


@pytest.mark.parametrize("is_rule", [True, False], ids=["track_rule", "passive"])
def test_a_grey_calibration_without_the_doors_target_leaves_grey_tracks_at_the_colour_threshold(
    engine, keyring, recognizer, pad_model_dir, tmp_path, enrolled, caplog, is_rule: bool
) -> None:
    """A grey calibration with points at 5% and 10% only (fewer than 100 grey tracks or photos), its
    threshold above the grey track's score, and a colour one at 1% below it: a door at 1% starts (it
    refused to start before) and holds the grey track to the colour threshold, the strict choice (denied),
    its basis and a warning at start naming the door say so; a door at 5% holds it to the grey 5% point
    (granted)."""
    grey, score = _grey_track_and_score(engine, keyring, recognizer, pad_model_dir, tmp_path, is_rule)
    colour_at, grey_at = score / 2, (score + 1.0) / 2
    card = _gap_card(is_rule, colour=_at("colour", colour_at), grey=_points("grey", grey_at, 0.05, 0.1))
    pad = _pad_with(pad_model_dir, tmp_path / "gap", **card)
    prefix = "track rule, " if is_rule else ""

    with caplog.at_level("WARNING", logger="gate.pad"):
        decisions, events = _run(engine, keyring, recognizer, pad, grey, "enforce")
    at_5 = GateSettings(pad=PadSettings(policy="enforce", bpcer_target=0.05))
    at_5.decision.cooldown_s = 0.0
    lax_decisions, lax_events = run_pad_gate(engine, keyring, recognizer, pad, grey, settings=at_5)

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.denied, PRESENTATION_ATTACK)
    ]
    assert events[1].pad_threshold == pytest.approx(colour_at)
    cues = json.loads(events[1].pad_cues)
    assert (cues["colour"], cues["basis"]) == (
        "grey",
        f"{prefix}BPCER 0.01 on colour, no grey calibration at BPCER 0.01",
    )
    (warning,) = [r.getMessage() for r in caplog.records if "grey calibration has no point" in r.getMessage()]
    assert warning.startswith("door front, source replay:pad: ") and "(calibrated: 0.05, 0.1)" in warning
    assert ("--grey --card-rule --write-card" if is_rule else "facegate pad calibrate --grayscale") in warning
    assert [d.verdict.decision for d in lax_decisions] == [Decision.granted]
    assert lax_events[-1].pad_threshold == pytest.approx(grey_at)
    grey_label = "grey tracks" if is_rule else "grey frames"
    assert json.loads(lax_events[-1].pad_cues)["basis"] == f"{prefix}{grey_label}: BPCER 0.05 on grey"
    assert verify(engine, keyring).is_ok


@pytest.mark.parametrize("is_rule", [True, False], ids=["track_rule", "passive"])
def test_a_colour_calibration_without_the_doors_target_stops_the_door_naming_it_and_the_fix(
    engine, keyring, recognizer, pad_model_dir, tmp_path, enrolled, is_rule: bool
) -> None:
    card = _gap_card(is_rule, colour=_points("colour", 0.5, 0.05), grey=_points("grey", 0.9, 0.01))
    pad = _pad_with(pad_model_dir, tmp_path, **card)

    with pytest.raises(ThresholdUnavailable) as refused:
        _run(engine, keyring, recognizer, pad, [_sample("image_T1.jpg")], "enforce")

    message = str(refused.value)
    score = "the track rule's" if is_rule else "the card's"
    assert message.startswith(
        f"door front, source replay:pad: no PAD threshold at its bpcer_target 0.01 in {score}"
    )
    assert "has no point at BPCER <= 0.01 (calibrated: 0.05)" in message
    assert "set the door's pad.bpcer_target to a calibrated point, or calibrate it at 0.01" in message
    fix = (
        "`bench/pad_cues.py --calibrate-stills DIR --write-card`, at least 100 photos"
        if is_rule
        else ("`facegate pad calibrate`, at least 100 bona fide photos")
    )
    assert fix in message


@pytest.mark.parametrize("is_rule", [True, False], ids=["track_rule", "passive"])
def test_a_grey_calibration_without_the_target_holds_grey_tracks_to_its_nearest_point_when_stricter(
    engine, keyring, recognizer, pad_model_dir, tmp_path, enrolled, caplog, is_rule: bool
) -> None:
    """The second-pass track rule's colour thresholds, set on photos with edges, are laxer on grey tracks
    than its grey calibration (0.5411 against 0.0687 at 1%, BENCHMARKS): a grey calibration with points at
    5% and 10% only, below the grey track's score, and a colour threshold at 1% above it. The missing
    grey 1% point would be at least as strict as the 5% one, so a 1% door holds the grey track to the grey
    5% point (denied; it was held to the colour threshold and granted); its basis and start warning say so."""
    grey, score = _grey_track_and_score(engine, keyring, recognizer, pad_model_dir, tmp_path, is_rule)
    colour_at, grey_at = (score + 1.0) / 2, score / 2
    card = _gap_card(is_rule, colour=_at("colour", colour_at), grey=_points("grey", grey_at, 0.05, 0.1))
    pad = _pad_with(pad_model_dir, tmp_path / "gap", **card)

    with caplog.at_level("WARNING", logger="gate.pad"):
        decisions, events = _run(engine, keyring, recognizer, pad, grey, "enforce")

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.denied, PRESENTATION_ATTACK)
    ]
    assert events[1].pad_threshold == pytest.approx(grey_at)
    prefix, label = ("track rule, ", "grey tracks") if is_rule else ("", "grey frames")
    assert json.loads(events[1].pad_cues)["basis"] == (
        f"{prefix}{label}: BPCER 0.05 on grey, for target 0.01: stricter than the colour threshold "
        f"{colour_at:.6g}"
    )
    (warning,) = [r.getMessage() for r in caplog.records if "grey calibration has no point" in r.getMessage()]
    assert "grey tracks are held to the grey BPCER 0.05 on grey" in warning
    assert verify(engine, keyring).is_ok


def test_a_track_after_a_camera_outage_is_judged_by_its_own_pad_frames_only(
    engine, keyring, recognizer, pad_detector, enrolled
) -> None:
    """After an outage the tracker numbered tracks from 1 again (6d83169), and the PAD scores of the track 1
    before it were kept: a photo held up after the camera came back was judged on the live face's three frames
    from before the outage (its own were not scored, the track had its three already) and granted."""
    settings = GateSettings(pad=PadSettings(policy="enforce"))
    settings.decision.cooldown_s = 0.0
    settings.decision.votes_required = 4  # three live frames vote, and are PAD-scored, but decide nothing
    outage = SourceOutage(source="replay:pad", started_at_s=100.0, reason="read_timeout")
    frames = [_sample("image_T1.jpg")] * 3 + [outage] + [_sample("image_F1.jpg")] * 5

    decisions, events = run_pad_gate(engine, keyring, recognizer, pad_detector, frames, settings=settings)

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.denied, PRESENTATION_ATTACK)
    ]
    assert [e.reason for e in events] == [CAMERA_UNAVAILABLE, PRESENTATION_ATTACK]
    assert events[1].person_id == enrolled["F1"] and json.loads(events[1].pad_cues)["frames"] == 3
