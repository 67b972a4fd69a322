"""run_gate end to end (G3): real faces pasted into frames, real models, real gallery, real audit log."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect

from gate import CAMERA_UNAVAILABLE, GalleryCache, GateSettings, MqttDoor, SourceOutage, run_gate
from recognition import Recognizer, vector_from_bytes
from storage import (
    AuditEventCreate,
    AuditEventPublic,
    Decision,
    Engine,
    Keyring,
    UnknownKeyId,
    append_event,
    iter_templates,
    query_events,
    session_scope,
)
from tests.fakes import FailingDoor, FakeClock, Placement, RecordingDoor, build_frames
from tests.plaintext import template_leaks

DOOR = "front"
SOURCE = "replay:test"
ALICE_NAME = "Alice Enrolled"
AUDIT_FIELDS = {
    "id",
    "occurred_at",
    "door",
    "source",
    "track_id",
    "decision",
    "reason",
    "person_id",
    "score",
    "threshold",
    "model_id",
    "sequence",
    "link_hash",
}
CHAIN_COLUMNS = {"chain_key_id", "prev_hash"}


def _recorder(engine: Engine, keyring: Keyring):
    def record(event: AuditEventCreate) -> None:
        with session_scope(engine) as session:
            append_event(session, keyring, event)

    return record


def _audit_rows(engine: Engine) -> list[AuditEventPublic]:
    with session_scope(engine) as session:
        events, total = query_events(session, door=DOOR, limit=1000)
    assert total == len(events)
    return sorted(events, key=lambda event: event.id)


def _run(engine, keyring, recognizer, frames, settings=None, door=None):
    door = door or RecordingDoor()
    settings = settings or GateSettings()
    cache = GalleryCache(
        engine=engine,
        keyring=keyring,
        recognizer=recognizer,
        poll_s=settings.gallery_poll_s,
        monotonic=FakeClock(),
    )
    decisions = list(
        run_gate(
            frames,
            door=DOOR,
            source_name=SOURCE,
            recognizer=recognizer,
            gallery=cache.current,
            actuator=door,
            record=_recorder(engine, keyring),
            settings=settings,
        )
    )
    return decisions, door


@pytest.fixture
def scene(recognizer: Recognizer, group_faces):
    """18 frames: Alice alone on the left, then Bob alone on the right, then both."""
    alice, bob = recognizer.decode(group_faces[0]), recognizer.decode(group_faces[4])
    alice_left, bob_right = Placement(alice, 30, 100), Placement(bob, 390, 100)
    return (
        build_frames([alice_left], count=6)
        + build_frames([bob_right], count=6)
        + build_frames([alice_left, bob_right], count=6)
    )


def test_grants_the_enrolled_person_and_denies_the_stranger(
    engine, keyring, recognizer, group_faces, enroll_person, scene
):
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    settings = GateSettings()  # k=3 of n=5; a track dies after 5 missed frames

    decisions, door = _run(engine, keyring, recognizer, scene, settings)

    # Alice's first track is decided on its 3rd frame and expires while Bob is alone (6 missed frames),
    # so when she comes back she is a new track with a new grant; Bob's track continues, already decided.
    summary = [
        (d.frame_index, d.track_id, d.verdict.decision, d.verdict.reason, d.verdict.person_id)
        for d in decisions
    ]
    assert summary == [
        (2, 1, Decision.granted, "match", alice_id),
        (8, 2, Decision.denied, "unknown", None),
        (14, 3, Decision.granted, "match", alice_id),
    ]
    grants = [d for d in decisions if d.verdict.decision is Decision.granted]
    assert all(d.verdict.score >= d.threshold == recognizer.cos_threshold for d in grants)
    assert decisions[1].verdict.score < recognizer.cos_threshold
    assert [(u.door, u.duration_s) for u in door.unlocks] == [(DOOR, settings.door.unlock_s)] * len(grants)

    rows = _audit_rows(engine)
    assert [(r.track_id, r.decision, r.reason, r.person_id) for r in rows] == [
        (d.track_id, d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions
    ]
    for row, decision in zip(rows, decisions, strict=True):
        assert row.score == pytest.approx(decision.verdict.score)
        assert row.threshold == pytest.approx(decision.threshold)
        assert (row.door, row.source, row.model_id) == (DOOR, SOURCE, recognizer.model_id)
        assert row.occurred_at.tzinfo is not None and row.occurred_at.utcoffset().total_seconds() == 0


def test_audit_rows_hold_only_ids_and_scores(engine, keyring, recognizer, group_faces, enroll_person, scene):
    enroll_person(ALICE_NAME, group_faces[0])
    _run(engine, keyring, recognizer, scene)

    columns = {column["name"] for column in inspect(engine).get_columns("audit_event")}
    assert columns == AUDIT_FIELDS | CHAIN_COLUMNS
    rows = _audit_rows(engine)
    assert rows
    for row in rows:
        values = row.model_dump()
        assert set(values) == AUDIT_FIELDS
        for name, value in values.items():
            assert value is None or isinstance(value, int | float | str | datetime), (name, type(value))
            assert not isinstance(value, str) or ALICE_NAME.split()[0] not in value, name


def test_empty_gallery_denies_everyone_and_never_unlocks(engine, keyring, recognizer, scene):
    decisions, door = _run(engine, keyring, recognizer, scene)

    assert len(decisions) == 3
    assert all(d.verdict.decision is Decision.denied and d.verdict.reason == "unknown" for d in decisions)
    assert all(d.verdict.person_id is None for d in decisions)
    assert door.unlocks == []
    rows = _audit_rows(engine)
    assert [r.decision for r in rows] == [Decision.denied] * 3


def test_frames_without_faces_decide_nothing(engine, keyring, recognizer, group_faces, enroll_person):
    enroll_person(ALICE_NAME, group_faces[0])
    decisions, door = _run(engine, keyring, recognizer, build_frames([], count=5))
    assert decisions == [] and door.unlocks == [] and _audit_rows(engine) == []


def test_a_door_that_fails_to_unlock_is_audited_as_a_denial(
    engine, keyring, recognizer, group_faces, enroll_person
):
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    frames = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=4)
    decisions, door = _run(engine, keyring, recognizer, frames, door=FailingDoor())
    assert door.attempts == 1
    verdicts = [(d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions]
    assert verdicts == [(Decision.denied, "door_error", alice_id)]
    assert [(e.decision, e.reason) for e in _audit_rows(engine)] == [(Decision.denied, "door_error")]


def test_an_unreachable_mqtt_broker_is_audited_as_a_door_error(
    engine, keyring, recognizer, group_faces, enroll_person
):
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    frames = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=4)
    dead_broker = MqttDoor(
        host="127.0.0.1",
        port=1,
        topic="facegate/test/front",
        timeout_s=1.0,
        username=None,
        password=None,
        utc_now=lambda: datetime.now(UTC),
        monotonic=time.monotonic,
    )
    started_s = time.monotonic()
    decisions, _ = _run(engine, keyring, recognizer, frames, door=dead_broker)
    assert time.monotonic() - started_s < 10.0
    verdicts = [(d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions]
    assert verdicts == [(Decision.denied, "door_error", alice_id)]
    assert [(e.decision, e.reason) for e in _audit_rows(engine)] == [(Decision.denied, "door_error")]


def test_an_unreadable_gallery_casts_no_votes(engine, keyring, recognizer, scene):
    def broken_gallery():
        raise UnknownKeyId("gallery encrypted with a key that is not loaded")

    door = RecordingDoor()
    decisions = list(
        run_gate(
            scene,
            door=DOOR,
            source_name=SOURCE,
            recognizer=recognizer,
            gallery=broken_gallery,
            actuator=door,
            record=_recorder(engine, keyring),
            settings=GateSettings(),
        )
    )
    assert decisions == [] and door.unlocks == [] and _audit_rows(engine) == []


def test_debug_logs_of_enrollment_and_gate_hold_no_template_values(
    engine, keyring, recognizer, group_faces, enroll_person, scene, caplog
):
    caplog.set_level(logging.DEBUG)
    enroll_person(ALICE_NAME, group_faces[0])
    decisions, _ = _run(engine, keyring, recognizer, scene)
    with session_scope(engine) as session:
        templates = list(iter_templates(session, keyring, model_id=recognizer.model_id))
    vectors = [vector_from_bytes(t.plaintext, dim=recognizer.embedder.dim) for t in templates]

    assert decisions and len(caplog.records) > 5
    assert template_leaks(caplog.text.encode(), vectors) == []
    assert ALICE_NAME not in caplog.text


def test_a_camera_outage_is_audited_denied_and_ends_the_tracks(
    engine, keyring, recognizer, group_faces, enroll_person
):
    enroll_person(ALICE_NAME, group_faces[0])
    alice = Placement(recognizer.decode(group_faces[0]), 30, 100)
    frames = build_frames([alice], count=4)
    outage = SourceOutage(source=SOURCE, started_at_s=12.0, reason="stream_ended")

    # k=3: two votes before the outage and two after would grant if the track survived it.
    decisions, door = _run(engine, keyring, recognizer, [*frames[:2], outage, *frames[2:]])

    assert decisions == [] and door.unlocks == []
    [row] = _audit_rows(engine)
    assert (row.decision, row.reason, row.track_id, row.person_id, row.score) == (
        Decision.denied,
        CAMERA_UNAVAILABLE,
        None,
        None,
        None,
    )
    assert (row.source, row.model_id) == (SOURCE, recognizer.model_id)
