"""A door's PAD threshold from its own monitor events: the real gate on bona fide stand-in clips, real PAD."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Literal

import pytest
from pydantic import ValidationError

from gate import (
    PRESENTATION_ATTACK,
    DoorCalibrationRefused,
    DoorCalibrationResult,
    DoorColourCalibration,
    DoorPadCalibration,
    GateSettings,
    PadSettings,
    ThresholdUnavailable,
    calibrate_door,
    min_events,
)
from gate.pad_door_attacks import card_attack_evidence
from recognition import (
    PASSIVE_FEATURE,
    BpcerPoint,
    PadAttackEvidence,
    PadCalibration,
    PadTrackRule,
    PresentationAttackDetector,
    attack_evidence,
    threshold_at_bpcer,
)
from storage import (
    AuditEventCreate,
    AuditEventPublic,
    Checkpoint,
    Cipher,
    Decision,
    Engine,
    Keyring,
    append_event,
    checkpoint_public_key,
    export_checkpoint,
    session_scope,
)
from tests.data import encode_jpeg
from tests.gate.pad_support import (
    CHAINED,
    NOON,
    door_clips,
    hand_set_rule,
    pad_gate_settings,
    pad_with,
    replayed,
    run_pad_gate,
    sample,
)
from tests.storage.audit_helpers import append, sql, verify

TARGET = 0.5
"""A lax target, so that the least count it needs (10) is a few clips on two cores; 1% needs 500."""
WINDOW = {"since": NOON - timedelta(hours=1), "until": NOON + timedelta(hours=1)}


def _settings(policy: str, **pad: object) -> GateSettings:
    return pad_gate_settings(policy, bpcer_target=TARGET, **pad)


def _calibrate(
    engine: Engine,
    keyring: Cipher,
    detector: PresentationAttackDetector,
    *,
    settings: PadSettings | None = None,
    checkpoint: Checkpoint | None = None,
    **window: datetime,
) -> DoorCalibrationResult:
    """The front door's calibration at TARGET (the door's PAD settings by default), as the command runs it."""
    return calibrate_door(
        engine,
        keyring=keyring,
        door="front",
        settings=settings or PadSettings(),
        detector=detector,
        bpcer_target=TARGET,
        checkpoint=checkpoint,
        **window,
    )


@pytest.fixture
def enrolled(enroll_person) -> int:
    return enroll_person("T1", encode_jpeg(sample("image_T1.jpg")))


def _colour(event: AuditEventPublic) -> str:
    return json.loads(event.pad_cues or "{}").get("colour", "")


@pytest.mark.model
def test_the_door_threshold_is_the_card_rule_on_exactly_its_granted_monitor_events_per_colour(
    engine, keyring, recognizer, pad_detector: PresentationAttackDetector, enrolled
) -> None:
    _, events = run_pad_gate(
        engine,
        keyring,
        recognizer,
        pad_detector,
        [*door_clips(10, seed=1), *door_clips(10, seed=2, is_grey=True)],
        settings=_settings("monitor"),
    )
    # Left out: enforced events, another door's, and this door's before the window.
    run_pad_gate(
        engine, keyring, recognizer, pad_detector, door_clips(1, seed=3), settings=_settings("enforce")
    )
    run_pad_gate(
        engine,
        keyring,
        recognizer,
        pad_detector,
        door_clips(1, seed=4),
        settings=_settings("monitor"),
        door="back",
    )
    old = NOON - timedelta(days=2)
    run_pad_gate(
        engine,
        keyring,
        recognizer,
        pad_detector,
        door_clips(1, seed=5),
        settings=_settings("monitor"),
        at=old,
    )

    result = _calibrate(engine, keyring, pad_detector, **WINDOW)

    assert all(e.decision is Decision.granted and e.reason == "match" for e in events)
    colours = [_colour(e) for e in events]
    assert colours == ["colour"] * colours.count("colour") + ["grey"] * colours.count("grey")
    assert colours.count("colour") >= min_events(TARGET) and colours.count("grey") >= min_events(TARGET)
    for found in result.colours:
        scores = [e.pad_score for e in events if _colour(e) == found.colour]
        assert found.calibration is not None and found.event_count == len(scores)
        threshold = found.calibration.attack_threshold
        assert threshold == threshold_at_bpcer(scores, TARGET)
        assert found.refused_at_door == sum(s > threshold for s in scores)
        assert 1 <= found.refused_at_door <= TARGET * len(scores)
        assert found.calibration.first_event_at == found.calibration.last_event_at == NOON
        # To review before enforcing: the events at or above the threshold, most attack-like first, by id.
        at_or_above = [e for e in events if _colour(e) == found.colour and e.pad_score >= threshold]
        expected = sorted(at_or_above, key=lambda e: (-e.pad_score, e.id))
        review = [(r.event_id, r.score, r.track_id, r.occurred_at) for r in found.review]
        assert review == [(e.id, e.pad_score, e.track_id, e.occurred_at) for e in expected]
        assert len(review) >= found.refused_at_door + 1  # the refused ones and the threshold's own
        assert {(r.source, r.person_id) for r in found.review} == {("replay:pad", enrolled)}
    assert result.calibration.pad_weights_sha256 == pad_detector.weights_sha256
    assert result.calibration.score == "passive"
    assert set(result.skipped) <= {"policy enforce"}  # the enforced tracks PAD let through, if any


@pytest.mark.model
def test_each_camera_shows_its_share_at_the_pooled_threshold_and_its_own_when_it_has_enough(
    engine, keyring, recognizer, pad_detector: PresentationAttackDetector, enrolled
) -> None:
    """Two cameras of one door pool their events; the result shows each one's events and refusals at the
    pooled thresholds, so that one that differs stands out, and its own threshold from enough events."""
    for source, clips in (("replay:lobby", door_clips(10, seed=16)), ("replay:side", door_clips(2, seed=17))):
        _, events = run_pad_gate(
            engine, keyring, recognizer, pad_detector, clips, settings=_settings("monitor"), source=source
        )

    colour, grey_result = _calibrate(engine, keyring, pad_detector).colours

    assert colour.calibration is not None and grey_result.cameras == ()
    door_at, card_at = colour.calibration.attack_threshold, colour.card_threshold
    scores = {s: [e.pad_score for e in events if e.source == s] for s in ("replay:lobby", "replay:side")}
    assert [len(v) for v in scores.values()] == [10, 2]
    assert [
        (c.source, c.event_count, c.refused_at_door, c.refused_at_card, c.own_threshold)
        for c in colour.cameras
    ] == [
        (
            source,
            len(values),
            sum(v > door_at for v in values),
            sum(v > card_at for v in values),
            threshold_at_bpcer(values, TARGET) if len(values) >= min_events(TARGET) else None,
        )
        for source, values in scores.items()
    ]
    assert sum(c.refused_at_door for c in colour.cameras) == colour.refused_at_door
    assert colour.cameras[0].own_threshold is not None and colour.cameras[1].own_threshold is None


@pytest.mark.model
def test_too_few_events_for_the_target_refuse(
    engine, keyring, pad_detector: PresentationAttackDetector, enrolled, recorded
) -> None:
    replayed(engine, keyring, recorded["passive"][:3])

    with pytest.raises(
        DoorCalibrationRefused, match=r"too few .* \(need 10 of one colour, .* found colour 3, grey 0\)"
    ):
        _calibrate(engine, keyring, pad_detector)


@pytest.mark.model
def test_events_scored_with_other_pad_weights_refuse(
    engine, keyring, pad_detector: PresentationAttackDetector, enrolled, recorded
) -> None:
    events = replayed(engine, keyring, recorded["passive"])
    assert _calibrate(engine, keyring, pad_detector).calibration.colour
    # One more granted monitor event, as a gate with an earlier PAD model wrote it.
    earlier = events[0].model_dump(exclude=CHAINED) | {"pad_weights_hash": "e" * 64}
    with session_scope(engine) as session:
        append_event(session, keyring, AuditEventCreate(**earlier))

    with pytest.raises(
        DoorCalibrationRefused, match=r"1 of 11 monitor events .* other PAD weights \(eeeeeeeeeeee"
    ):
        _calibrate(engine, keyring, pad_detector)


@pytest.mark.model
def test_a_monitor_event_edited_or_deleted_in_the_database_refuses_naming_it(
    engine, keyring, pad_detector: PresentationAttackDetector, enrolled, recorded
) -> None:
    """Someone who can write the database but lacks the master key lowers the most attack-like monitor
    event's PAD score, which would loosen the door's threshold, or deletes it: calibration verifies the
    audit chain as `facegate audit verify` does and refuses, naming the event."""
    events = replayed(engine, keyring, recorded["passive"])

    def calibrate() -> DoorPadCalibration:
        return _calibrate(engine, keyring, pad_detector).calibration

    untouched = calibrate()
    top = max(events, key=lambda e: e.pad_score or 0.0)
    sql(engine, "UPDATE audit_event SET pad_score = 0.0 WHERE id = :id", id=top.id)
    edited = rf"first bad event: event id {top.id}, sequence {top.sequence} \(edited\): .* HMAC"
    with pytest.raises(DoorCalibrationRefused, match=edited):
        calibrate()
    sql(engine, "UPDATE audit_event SET pad_score = :s WHERE id = :id", s=top.pad_score, id=top.id)
    assert calibrate() == untouched
    sql(engine, "DELETE FROM audit_event WHERE id = :id", id=top.id)
    with pytest.raises(DoorCalibrationRefused, match=rf"sequence {top.sequence} \((deleted|head_mismatch)\)"):
        calibrate()


@pytest.mark.model
def test_from_a_signed_checkpoint_a_break_before_it_no_longer_refuses_and_one_after_it_still_does(
    engine, keyring, pad_detector: PresentationAttackDetector, enrolled, recorded
) -> None:
    """The log is append-only, so a break refuses the whole-chain calibration for good; with a checkpoint
    signed while the chain held, the door calibrates from the events after it alone, and says so."""
    before = replayed(engine, keyring, recorded["passive"])
    with session_scope(engine) as session:
        checkpoint = export_checkpoint(session, keyring, now=NOON + timedelta(minutes=5))
    # The same tracks again after it (as their gate recorded them, a copy under the chain's MAC).
    with session_scope(engine) as session:
        after = [
            append_event(session, keyring, AuditEventCreate(**e.model_dump(exclude=CHAINED))) for e in before
        ]
    after_ids = {e.id for e in after}
    assert _calibrate(engine, keyring, pad_detector).colours[0].event_count == 2 * len(before)

    first = min(before, key=lambda e: e.sequence)
    sql(engine, "UPDATE audit_event SET pad_score = 0.0 WHERE id = :id", id=first.id)
    with pytest.raises(
        DoorCalibrationRefused, match=rf"event id {first.id}, sequence {first.sequence} \(edited\)"
    ):
        _calibrate(engine, keyring, pad_detector)
    result = _calibrate(engine, keyring, pad_detector, checkpoint=checkpoint)

    colour = result.colours[0]
    assert colour.calibration is not None and colour.event_count == len(before)
    assert colour.calibration.attack_threshold == threshold_at_bpcer([e.pad_score for e in before], TARGET)
    assert {r.event_id for r in colour.review} <= after_ids
    assert result.checkpoint == checkpoint and result.chain.is_ok
    assert (result.chain.start_sequence, result.chain.last_sequence) == (
        checkpoint.sequence,
        max(e.sequence for e in after),
    )
    assert result.chain.events_checked == len(after)

    top = max(after, key=lambda e: e.pad_score or 0.0)
    sql(engine, "UPDATE audit_event SET pad_score = 0.0 WHERE id = :id", id=top.id)
    refusal = (
        rf"audit chain after checkpointed event {checkpoint.sequence} does not verify.* event id {top.id}, "
        rf"sequence {top.sequence} \(edited\).* --since-checkpoint FILE"
    )
    with pytest.raises(DoorCalibrationRefused, match=refusal):
        _calibrate(engine, keyring, pad_detector, checkpoint=checkpoint)


@pytest.mark.model
def test_a_checkpoint_that_does_not_hold_refuses(
    engine, keyring, pad_detector: PresentationAttackDetector
) -> None:
    """Signed by another key, its link no longer at its sequence, or later than the log's last event:
    nothing is calibrated from it."""
    append(engine, keyring, range(1, 7))
    with session_scope(engine) as session:
        checkpoint = export_checkpoint(session, keyring, now=NOON)
    strangers = Keyring([secrets.token_bytes(32)])
    foreign = checkpoint.model_copy(update={"public_key_hex": checkpoint_public_key(strangers)})
    with pytest.raises(
        DoorCalibrationRefused, match="door front: the checkpoint cannot vouch .* none of the"
    ):
        _calibrate(engine, keyring, pad_detector, checkpoint=foreign)
    sql(engine, "UPDATE audit_event SET link_hash = :h WHERE sequence = 6", h="ab" * 32)
    with pytest.raises(DoorCalibrationRefused, match="cannot vouch .* event 6 has another link"):
        _calibrate(engine, keyring, pad_detector, checkpoint=checkpoint)
    sql(engine, "DELETE FROM audit_event WHERE sequence = 6")
    with pytest.raises(DoorCalibrationRefused, match=r"event 6 is gone \(the log ends at event 5\)"):
        _calibrate(engine, keyring, pad_detector, checkpoint=checkpoint)


@pytest.mark.model
def test_events_of_another_deciding_score_refuse_both_ways(
    engine, keyring, recognizer, pad_model_dir, pad_detector: PresentationAttackDetector, tmp_path, enrolled
) -> None:
    """Events decided by the card's track rule carry the rule's score, not the passive mean: a door that now
    decides by the passive mean cannot take its threshold from them, nor the other way round."""
    rule = hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
    with_rule = pad_with(pad_model_dir, tmp_path, track_rule=rule)
    later = NOON + timedelta(days=1)
    rule_door = _door_calibration(  # its basis starts alike
        with_rule.weights_sha256, score="track_rule", track_rule_sha256=rule.rule_sha256
    )
    rule_clips = [*door_clips(1, seed=8), *door_clips(1, seed=14, is_grey=True)]
    _, rule_events = run_pad_gate(
        engine,
        keyring,
        recognizer,
        with_rule,
        rule_clips,
        settings=_settings("monitor", door_calibration=rule_door),
    )
    assert [json.loads(e.pad_cues or "{}")["basis"] for e in rule_events] == [
        "track rule, door calibration: BPCER 0.5, 500 events 2026-11-23..2026-11-23",
        "track rule, grey frames: door calibration: BPCER 0.5, 500 events 2026-11-23..2026-11-23",
    ]
    run_pad_gate(
        engine,
        keyring,
        recognizer,
        pad_detector,
        door_clips(2, seed=9),
        settings=_settings("monitor"),
        at=later,
    )
    rule_window, passive_window = WINDOW, {"since": later - timedelta(hours=1)}

    for detector, settings, window, now in (
        (with_rule, PadSettings(allow_track_rule=False), rule_window, "passive"),
        (pad_detector, PadSettings(), rule_window, "passive"),
        (with_rule, PadSettings(), passive_window, "track_rule"),
    ):
        with pytest.raises(DoorCalibrationRefused, match=rf"2 of 2 .* another score than the {now} score"):
            _calibrate(engine, keyring, detector, settings=settings, **window)
    with pytest.raises(DoorCalibrationRefused, match="too few"):  # same score: only the count is short
        _calibrate(engine, keyring, with_rule, **rule_window)


@pytest.mark.model
def test_events_of_a_refit_track_rule_or_of_an_unknown_rule_refuse_naming_it(
    engine, keyring, recognizer, pad_model_dir, tmp_path, enrolled, recorded
) -> None:
    """Each rule-decided event names its rule (the hash of its coefficients, MAC-covered); a door deciding
    by a refit rule cannot take its threshold from the old rule's events, nor from events recorded before
    events named their rule (rule unknown)."""
    rule = hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
    refit = rule.model_copy(update={"weights": (1.0, 3.0)})
    assert refit.rule_sha256 != rule.rule_sha256
    assert rule.model_copy(update={"fitted_on": "elsewhere"}).rule_sha256 == rule.rule_sha256
    with_rule = pad_with(pad_model_dir, tmp_path / "old", track_rule=rule)
    with_refit = pad_with(pad_model_dir, tmp_path / "refit", track_rule=refit)
    monitored = replayed(engine, keyring, recorded["rule"])
    assert {json.loads(e.pad_cues or "{}")["track_rule_sha256"] for e in monitored} == {rule.rule_sha256}
    assert verify(engine, keyring).is_ok  # the rule's hash is inside the MAC-covered cues

    result = _calibrate(engine, keyring, with_rule, **WINDOW)
    assert result.calibration.score == "track_rule" and result.colours[0].event_count == len(monitored)
    assert result.calibration.track_rule_sha256 == rule.rule_sha256
    # The gate holds that door calibration under its rule only, as it refuses its events.
    run_pad_gate(
        engine,
        keyring,
        recognizer,
        with_rule,
        [],
        settings=_settings("enforce", door_calibration=result.calibration),
    )
    with pytest.raises(
        ThresholdUnavailable,
        match=rf"door front, source replay:pad: .* measured with track rule {rule.rule_sha256[:12]}, the "
        rf"card's track rule is {refit.rule_sha256[:12]} \(refit",
    ):
        run_pad_gate(
            engine,
            keyring,
            recognizer,
            with_refit,
            [],
            settings=_settings("enforce", door_calibration=result.calibration),
        )
    unknown = result.calibration.model_copy(update={"track_rule_sha256": None})  # written before it was
    with pytest.raises(ThresholdUnavailable, match=r"measured with an unknown track rule \(written before"):
        run_pad_gate(
            engine,
            keyring,
            recognizer,
            with_rule,
            [],
            settings=_settings("enforce", door_calibration=unknown),
        )
    with pytest.raises(
        DoorCalibrationRefused,
        match=rf"{len(monitored)} of {len(monitored)} monitor events were decided by another track rule "
        rf"\({rule.rule_sha256[:12]} \({len(monitored)}\)\) than the card's {refit.rule_sha256[:12]}: "
        "the rule was refit",
    ):
        _calibrate(engine, keyring, with_refit, **WINDOW)

    # The same tracks as a gate recorded them before events named their rule (under the chain's MAC).
    later = NOON + timedelta(days=1)
    with session_scope(engine) as session:
        for e in monitored:
            cues = json.loads(e.pad_cues or "{}")
            del cues["track_rule_sha256"]
            old = e.model_copy(update={"pad_cues": json.dumps(cues, sort_keys=True), "occurred_at": later})
            append_event(session, keyring, AuditEventCreate(**old.model_dump(exclude=CHAINED)))
    with pytest.raises(
        DoorCalibrationRefused,
        match=rf"another track rule \(rule unknown \(recorded before events named their rule\) "
        rf"\({len(monitored)}\)\) than the card's {rule.rule_sha256[:12]}",
    ):
        _calibrate(engine, keyring, with_rule, since=later - timedelta(hours=1))


@pytest.mark.model
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_enforce_holds_each_colour_to_the_door_calibration_and_refuses_what_it_reported(
    engine, keyring, recognizer, pad_detector: PresentationAttackDetector, enrolled
) -> None:
    """Monitor, calibrate the door, enforce: replaying the same clips, the gate refuses exactly the tracks
    the calibration said its thresholds refuse, and each event names the door calibration it was held to."""
    clips = [*door_clips(10, seed=10), *door_clips(10, seed=11, is_grey=True)]
    _, monitored = run_pad_gate(
        engine, keyring, recognizer, pad_detector, clips, settings=_settings("monitor")
    )
    result = _calibrate(engine, keyring, pad_detector, **WINDOW)
    later = NOON + timedelta(days=1)

    decisions, events = run_pad_gate(
        engine,
        keyring,
        recognizer,
        pad_detector,
        clips,
        settings=_settings("enforce", door_calibration=result.calibration),
        at=later,
    )

    enforced = [e for e in events if e.occurred_at == later]
    assert len(enforced) == len(monitored) == len(decisions)
    for found in result.colours:
        assert found.calibration is not None
        mine = [e for e in enforced if _colour(e) == found.colour]
        assert {e.pad_threshold for e in mine} == {found.calibration.attack_threshold}
        denied = [e for e in mine if e.decision is Decision.denied]
        assert {e.reason for e in denied} <= {PRESENTATION_ATTACK}
        assert len(denied) == found.refused_at_door
        basis = f"door calibration: BPCER 0.5, {found.event_count} events 2026-11-23..2026-11-23"
        expected = f"grey frames: {basis}" if found.colour == "grey" else basis
        assert {json.loads(e.pad_cues or "{}")["basis"] for e in mine} == {expected}
    assert verify(engine, keyring).is_ok  # the basis is inside the MAC-covered cues


def _door_calibration(
    weights: str, *, score: str = "passive", grey: bool = True, track_rule_sha256: str | None = None
) -> DoorPadCalibration:
    entry = DoorColourCalibration(
        attack_threshold=0.9, event_count=500, first_event_at=NOON, last_event_at=NOON
    )
    return DoorPadCalibration(
        pad_weights_sha256=weights,
        score=score,  # type: ignore[arg-type]
        track_rule_sha256=track_rule_sha256,
        bpcer_target=TARGET,
        colour=entry,
        grey=entry if grey else None,
    )


@pytest.mark.model
def test_a_door_calibration_of_other_weights_or_another_score_stops_the_gate_naming_door_and_camera(
    engine, keyring, recognizer, pad_model_dir, pad_detector: PresentationAttackDetector, tmp_path, enrolled
) -> None:
    with_rule = pad_with(pad_model_dir, tmp_path, track_rule=hand_set_rule((PASSIVE_FEATURE, "frame_edges")))
    wrong_weights = _settings("enforce", door_calibration=_door_calibration("0" * 64))
    passive = _settings("monitor", door_calibration=_door_calibration(pad_detector.weights_sha256))

    with pytest.raises(
        ThresholdUnavailable,
        match="door front, source replay:pad: its PAD door_calibration was measured with PAD weights "
        "000000000000",
    ):
        run_pad_gate(engine, keyring, recognizer, pad_detector, [], settings=wrong_weights)
    with pytest.raises(
        ThresholdUnavailable,
        match="door front, source replay:pad: .* holds the passive score, the door now decides by the "
        "track_rule",
    ):
        run_pad_gate(engine, keyring, recognizer, with_rule, [], settings=passive)


@pytest.mark.model
def test_a_colour_without_a_door_calibration_keeps_the_cards(
    engine, keyring, recognizer, pad_detector: PresentationAttackDetector, enrolled
) -> None:
    colour_only = _door_calibration(pad_detector.weights_sha256, grey=False)

    _, events = run_pad_gate(
        engine,
        keyring,
        recognizer,
        pad_detector,
        [*door_clips(1, seed=12), *door_clips(1, seed=13, is_grey=True)],
        settings=_settings("monitor", door_calibration=colour_only),
    )

    colour, grey_track = events
    assert colour.pad_threshold == 0.9 and json.loads(colour.pad_cues or "{}")["basis"].startswith("door")
    assert grey_track.pad_threshold == 0.5  # this card has no calibration: the authors' rule, as before
    assert json.loads(grey_track.pad_cues or "{}")["basis"] == "uncalibrated"


def test_the_least_event_count_leaves_five_refused_and_a_target_outside_0_1_refuses() -> None:
    assert [min_events(target) for target in (0.01, 0.05, 0.1, 0.5)] == [500, 100, 50, 10]
    for target in (0.0, 1.0):
        with pytest.raises(DoorCalibrationRefused, match="not in"):
            min_events(target)


def test_a_door_calibration_must_be_at_the_doors_target_and_hold_a_colour() -> None:
    with pytest.raises(ValidationError, match="measured at BPCER 0.5, the door's bpcer_target is 0.01"):
        PadSettings(door_calibration=_door_calibration("0" * 64))
    with pytest.raises(ValidationError, match="needs a colour or a grey threshold"):
        DoorPadCalibration(pad_weights_sha256="0" * 64, score="passive", bpcer_target=0.01)


def _evidence(print_scores: list[float], screen_scores: list[float]) -> PadAttackEvidence:
    return attack_evidence(
        {"print": print_scores, "screen_replay": screen_scores}, {}, dataset="sim", paths_sha256="a" * 64
    )


def _card_at(threshold: float, evidence: PadAttackEvidence | None) -> PadCalibration:
    """A colour calibration at BPCER 1% (the point the door's lax target falls back to) with `evidence`."""
    point = BpcerPoint(bpcer=0.01, attack_threshold=threshold)
    return PadCalibration(dataset="LFW", bona_fide_count=100, points=(point,), attack_evidence=evidence)


@pytest.mark.model
def test_the_cards_attack_evidence_is_read_at_both_thresholds_and_more_than_10_points_given_up_warns(
    engine,
    keyring,
    pad_model_dir,
    pad_detector: PresentationAttackDetector,
    tmp_path,
    enrolled,
    recorded,
) -> None:
    """The card's colour calibration carries attack scores; the result gives each species' APCER at the
    door's threshold and at the card's, and calls the door weaker when it lets through more than 10 points
    more of some species: 30 of 300 attacks between the two thresholds is not more, 31 is."""
    replayed(engine, keyring, recorded["passive"])
    plain = _calibrate(engine, keyring, pad_detector).colours[0]
    assert plain.attacks is None and plain.attacks_missing is not None
    assert "uncalibrated" in plain.attacks_missing
    assert plain.calibration is not None
    door_at = plain.calibration.attack_threshold
    assert 0.0 < door_at < 1.0
    card_at, between, above = door_at / 2, (door_at * 3 / 4), (door_at + 1.0) / 2

    for given_up, is_weaker in ((30, False), (31, True)):
        printed = [between] * given_up + [above] * (300 - given_up)
        screen = [0.0] * 10 + [above] * 290  # below both thresholds: let through by both
        card = _card_at(card_at, _evidence(printed, screen))
        detector = pad_with(pad_model_dir, tmp_path / str(given_up), calibration=card, grey_calibration=None)

        colour, grey_result = _calibrate(engine, keyring, detector).colours

        assert colour.calibration == plain.calibration and colour.card_threshold == card_at
        assert colour.attacks is not None and colour.attacks.dataset == "sim"
        expected = {
            species: (
                len(scores),
                sum(not s > door_at for s in scores) / len(scores),
                sum(not s > card_at for s in scores) / len(scores),
            )
            for species, scores in (("print", printed), ("screen_replay", screen))
        }
        found = {
            s.species: (s.attack_count, s.apcer_at_door, s.apcer_at_card) for s in colour.attacks.species
        }
        assert found == expected
        assert colour.attacks.is_weaker is is_weaker
        # Grey tracks keep the colour threshold here; colour attacks say nothing about grey ones.
        assert grey_result.attacks is None and "no grey calibration" in (grey_result.attacks_missing or "")
        result = _calibrate(engine, keyring, detector)
        _assert_summary(
            result, is_weaker=is_weaker, door_at=door_at, card_at=card_at, of="the card's attacks (sim)"
        )


def _assert_summary(
    result: DoorCalibrationResult, *, is_weaker: bool, door_at: float, card_at: float, of: str
) -> None:
    """31 of 300 prints between the thresholds give up PAD, summarised naming the attacks `of`; 30 do not."""
    if is_weaker:
        assert [c.colour for c in result.weaker_colours] == ["colour"]
        assert result.weaker_pad_summary() == (
            f"colour threshold {door_at:.6f} (the card's {card_at:.6f}) lets through print 10.33% "
            f"against 0.00% of 300 of {of}"
        )
    else:
        assert result.weaker_colours == () and result.weaker_pad_summary() is None


@pytest.mark.model
def test_a_card_calibration_without_attack_scores_is_said_plainly_per_colour(
    engine,
    keyring,
    pad_model_dir,
    pad_detector: PresentationAttackDetector,
    tmp_path,
    enrolled,
    recorded,
) -> None:
    replayed(engine, keyring, recorded["passive"])
    grey_card = PadCalibration(
        dataset="LFW in grey",
        bona_fide_count=100,
        points=(BpcerPoint(bpcer=0.01, attack_threshold=0.99),),
        attack_evidence=_evidence([0.5, 1.0], [1.0]),
    )
    detector = pad_with(pad_model_dir, tmp_path, calibration=_card_at(0.3, None), grey_calibration=grey_card)

    colour, grey_result = _calibrate(engine, keyring, detector).colours

    assert colour.attacks is None and colour.attacks_missing == (
        "the card's colour calibration (LFW) records no attack scores: it was made without "
        "`facegate pad calibrate --attacks`"
    )
    # Grey: no door threshold (no grey events), the card's evidence read at the card's threshold only.
    assert grey_result.calibration is None and grey_result.attacks is not None
    assert [(s.species, s.apcer_at_door, s.apcer_at_card) for s in grey_result.attacks.species] == [
        ("print", None, 0.5),
        ("screen_replay", None, 0.0),
    ]
    assert not grey_result.attacks.is_weaker


@pytest.mark.model
def test_each_deciding_score_and_colour_reads_only_the_evidence_measured_for_it(
    pad_model_dir, tmp_path
) -> None:
    """The passive score reads the card's calibration of its colour; grey reads a grey calibration's only;
    the track rule reads its own calibration's (none here: a rule fitted before it was recorded)."""
    colour_scores, grey_scores = _evidence([0.2], [0.9]), _evidence([0.99], [1.0])
    grey_card = _card_at(0.999, grey_scores).model_copy(update={"dataset": "LFW in grey"})
    both = pad_with(
        pad_model_dir,
        tmp_path / "both",
        calibration=_card_at(0.3, colour_scores),
        grey_calibration=grey_card,
        track_rule=hand_set_rule((PASSIVE_FEATURE, "frame_edges")),
    )

    assert card_attack_evidence(both, colour="colour", score_kind="passive") == (colour_scores, None)
    assert card_attack_evidence(both, colour="grey", score_kind="passive") == (grey_scores, None)
    for colour in ("colour", "grey"):
        evidence, why = card_attack_evidence(both, colour=colour, score_kind="track_rule")  # type: ignore[arg-type]
        assert evidence is None and why == (
            "the door decides by the card's track rule, which records no attack scores (fitted "
            "before bench/pad_cues.py recorded its held-out attack tracks)"
        )
    colour_only = pad_with(
        pad_model_dir, tmp_path / "colour", calibration=_card_at(0.3, colour_scores), grey_calibration=None
    )
    evidence, why = card_attack_evidence(colour_only, colour="grey", score_kind="passive")
    assert evidence is None and "no grey calibration" in (why or "")


def _rule_with_evidence(rule: PadTrackRule, threshold: float, *evidence: PadAttackEvidence) -> PadTrackRule:
    """`rule` (same coefficients) with one threshold at BPCER 1% and `evidence` as its attack tracks (one
    per colour), validated as a card's is read."""
    return PadTrackRule.model_validate(
        {**rule.model_dump(), "calibration": _card_at(threshold, None), "attack_evidence": evidence}
    )


def _rule_evidence(
    rule: PadTrackRule | None,
    print_scores: list[float],
    screen: list[float],
    *,
    colour: Literal["colour", "grey"] = "colour",
) -> PadAttackEvidence:
    """Attack tracks of `colour` scored by `rule` (None: evidence that names no rule, as stills')."""
    return attack_evidence(
        {"print": print_scores, "screen_replay": screen},
        {},
        dataset="held-out tracks",
        paths_sha256="b" * 64,
        rule_sha256=None if rule is None else rule.rule_sha256,
        colour=None if rule is None else colour,
    )


@pytest.mark.model
def test_a_rule_decided_door_reads_the_rules_own_attack_tracks_and_warns_past_10_points(
    engine, keyring, pad_model_dir, tmp_path, enrolled, recorded
) -> None:
    """A door that decides by the track rule: the rule's attack evidence (its scores on held-out colour
    attack tracks) is read per track at the door's threshold and at the rule's, for colour tracks only (grey
    ones score otherwise), and more than 10 points given up warns, as for the passive score."""
    rule = hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
    with_rule = pad_with(pad_model_dir, tmp_path / "plain", track_rule=rule)
    replayed(engine, keyring, recorded["rule"])
    plain = _calibrate(engine, keyring, with_rule).colours[0]
    assert plain.attacks is None and (plain.attacks_missing or "").startswith(
        "the door decides by the card's track rule, which records no attack scores"
    )
    assert plain.calibration is not None and 0.0 < plain.calibration.attack_threshold < 1.0
    door_at = plain.calibration.attack_threshold
    card_at, between, above = door_at / 2, door_at * 3 / 4, (door_at + 1.0) / 2

    for given_up, is_weaker in ((30, False), (31, True)):
        printed = [between] * given_up + [above] * (300 - given_up)
        screen = [0.0] * 10 + [above] * 290
        measured = _rule_with_evidence(rule, card_at, _rule_evidence(rule, printed, screen))
        detector = pad_with(pad_model_dir, tmp_path / str(given_up), track_rule=measured)

        result = _calibrate(engine, keyring, detector)

        colour, grey_result = result.colours
        assert result.calibration.score == "track_rule" and colour.calibration == plain.calibration
        assert colour.card_threshold == card_at and colour.card_basis.startswith("track rule, BPCER 0.01")
        assert colour.attacks is not None and colour.attacks.is_per_track and colour.attacks_missing is None
        assert grey_result.attacks is None and (grey_result.attacks_missing or "").endswith(
            "colour attack tracks say nothing about grey ones"
        )
        found = {
            s.species: (s.attack_count, s.apcer_at_door, s.apcer_at_card) for s in colour.attacks.species
        }
        assert found == {
            "print": (300, sum(not s > door_at for s in printed) / 300, 0.0),
            "screen_replay": (300, 10 / 300, 10 / 300),
        }
        assert colour.attacks.is_weaker is is_weaker
        of = "the track rule's attack tracks (held-out tracks)"
        _assert_summary(result, is_weaker=is_weaker, door_at=door_at, card_at=card_at, of=of)


@pytest.mark.model
def test_a_track_rules_evidence_holds_only_for_the_coefficients_that_scored_it(
    pad_model_dir, tmp_path
) -> None:
    """Evidence lives in the rule and names the rule that scored it: the rule's own is read; a rule whose
    coefficients were changed under it (the hash covers them, not the thresholds) is unknown, whatever the
    scores; evidence naming no rule (stills') is no rule's evidence at all."""
    rule = hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
    own = _rule_evidence(rule, [0.2], [0.9])
    measured = _rule_with_evidence(rule, 0.5, own)
    edited = measured.model_copy(update={"weights": (1.0, 3.0)})
    assert edited.rule_sha256 != rule.rule_sha256 and edited.attack_evidence == measured.attack_evidence
    with pytest.raises(ValidationError, match="a rule's scores per track"):
        _rule_with_evidence(rule, 0.5, _rule_evidence(None, [0.2], [0.9]))

    def read(track_rule: PadTrackRule, name: str) -> tuple[PadAttackEvidence | None, str | None]:
        detector = pad_with(pad_model_dir, tmp_path / name, track_rule=track_rule)
        return card_attack_evidence(detector, colour="colour", score_kind="track_rule")

    assert read(measured, "own") == (own, None)
    assert read(edited, "edited") == (
        None,
        f"the door decides by the card's track rule {edited.rule_sha256[:12]}, whose attack scores were "
        f"recorded by rule {rule.rule_sha256[:12]} (other coefficients), so they say nothing about it",
    )


@pytest.mark.model
def test_a_rule_decided_door_reads_the_rules_attack_tracks_only_for_the_colour_they_were_measured_in(
    engine, keyring, pad_model_dir, tmp_path, enrolled, recorded
) -> None:
    """Grey (night/IR) and colour monitor events of a door deciding by the track rule, each colour with its
    own threshold: the rule's evidence of grey attack tracks is read per track for the grey threshold only,
    and the colour one says why it has none (grey attacks score far higher); colour evidence the other way
    round; a rule holding both colours' evidence reads each colour off its own."""
    rule = hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
    with_rule = pad_with(pad_model_dir, tmp_path / "plain", track_rule=rule)
    replayed(engine, keyring, [*recorded["rule"], *recorded["rule_grey"]])
    thresholds = {}
    for plain in _calibrate(engine, keyring, with_rule).colours:
        assert plain.calibration is not None and plain.attacks is None
        thresholds[plain.colour] = plain.calibration.attack_threshold
    printed, screen = [0.0, 0.2, 1.0], [0.0, 1.0]
    for measured_in, other in (("grey", "colour"), ("colour", "grey")):
        evidence = _rule_evidence(rule, printed, screen, colour=measured_in)
        detector = pad_with(
            pad_model_dir, tmp_path / measured_in, track_rule=_rule_with_evidence(rule, 0.5, evidence)
        )

        read = {c.colour: c for c in _calibrate(engine, keyring, detector).colours}

        attacks = read[measured_in].attacks
        assert attacks is not None and attacks.is_per_track and read[measured_in].attacks_missing is None
        at = thresholds[measured_in]
        assert [(s.species, s.apcer_at_door, s.apcer_at_card) for s in attacks.species] == [
            ("print", sum(not v > at for v in printed) / 3, 2 / 3),
            ("screen_replay", sum(not v > at for v in screen) / 2, 1 / 2),
        ]
        assert read[other].attacks is None and read[other].calibration is not None
        assert read[other].attacks_missing == (
            f"the door decides by the card's track rule, whose attack tracks are {measured_in} (held-out "
            f"tracks); grey attacks score far higher than colour ones, so {measured_in} attack tracks say "
            f"nothing about {other} ones"
        )
    grey_printed = [0.0, 0.1, 0.2, 1.0]  # with both colours measured, each colour is read off its own
    both = _rule_with_evidence(
        rule,
        0.5,
        _rule_evidence(rule, printed, screen),
        _rule_evidence(rule, grey_printed, screen, colour="grey"),
    )

    read = {
        c.colour: c
        for c in _calibrate(
            engine, keyring, pad_with(pad_model_dir, tmp_path / "both", track_rule=both)
        ).colours
    }

    for colour, printed_in in (("colour", printed), ("grey", grey_printed)):
        attacks, at = read[colour].attacks, thresholds[colour]
        assert attacks is not None and attacks.is_per_track and read[colour].attacks_missing is None
        assert [(s.species, s.attack_count, s.apcer_at_door) for s in attacks.species] == [
            ("print", len(printed_in), sum(not v > at for v in printed_in) / len(printed_in)),
            ("screen_replay", 2, sum(not v > at for v in screen) / 2),
        ]
