"""run_gate end to end (G3): real faces pasted into frames, real models, real gallery, real audit log."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from sqlalchemy import inspect, text

from gate import (
    CAMERA_UNAVAILABLE,
    AccessPolicyCache,
    CapturedFrame,
    DecisionSettings,
    GalleryCache,
    GateSettings,
    HttpWebhookDoor,
    MqttDoor,
    SourceOutage,
    ThresholdUnavailable,
    door_operating_threshold,
    run_gate,
)
from recognition import FaissFlatGallery, Gallery, Recognizer, vector_from_bytes
from storage import (
    AuditEventCreate,
    AuditEventPublic,
    Decision,
    DoorRuleCreate,
    Engine,
    EventFilter,
    Keyring,
    UnknownKeyId,
    add_member,
    append_event,
    create_door_rule,
    create_group,
    ensure_door,
    iter_templates,
    query_events,
    session_scope,
)
from tests.fakes import FailingDoor, FakeClock, Placement, RecordingDoor, build_frames
from tests.gate.test_threshold import calibrated_recognizer, recalibrated
from tests.plaintext import template_leaks

DOOR = "front"
SOURCE = "replay:test"
ALICE_NAME = "Alice Enrolled"
MONDAY_NOON_UTC = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
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
    "weights_hash",
    "margin",
    "quality",
    "rule",
    "pad_model_id",
    "pad_weights_hash",
    "pad_score",
    "pad_threshold",
    "pad_cues",
    "event_uid",
    "sequence",
    "link_hash",
}
HIDDEN_COLUMNS = {"chain_key_id", "prev_hash"}
NO_COOLDOWN = GateSettings(decision=DecisionSettings(cooldown_s=0.0))


def _recorder(engine: Engine, keyring: Keyring) -> Callable[[AuditEventCreate], None]:
    def record(event: AuditEventCreate) -> None:
        with session_scope(engine) as session:
            append_event(session, keyring, event)

    return record


def _audit_rows(engine: Engine) -> list[AuditEventPublic]:
    with session_scope(engine) as session:
        events, total = query_events(session, where=EventFilter(door=DOOR), limit=1000)
    assert total == len(events)
    return sorted(events, key=lambda event: event.id)


@dataclass
class GateRun:
    """One replay's inputs that tests vary; the rest is the production wiring of gate/app.py."""

    engine: Engine
    keyring: Keyring
    recognizer: Recognizer
    clock: FakeClock

    def __call__(
        self,
        frames: Iterable[object],
        settings: GateSettings = NO_COOLDOWN,
        door: object | None = None,
        gallery: Callable[[], object] | None = None,
        utc_now: datetime = MONDAY_NOON_UTC,
        recognizer: Recognizer | None = None,
        *,
        is_door_registered: bool = True,
    ):
        door = door or RecordingDoor()
        if is_door_registered:  # registered by an admin, or by a gate set to register it
            with session_scope(self.engine) as session:
                ensure_door(session, name=DOOR)
        cache = GalleryCache(
            engine=self.engine,
            keyring=self.keyring,
            recognizer=self.recognizer,
            poll_s=settings.gallery_poll_s,
            monotonic=self.clock,
        )
        access = AccessPolicyCache(
            engine=self.engine, door=DOOR, poll_s=settings.gallery_poll_s, monotonic=self.clock
        )
        decisions = list(
            run_gate(
                frames,  # type: ignore[arg-type]
                door=DOOR,
                source_name=SOURCE,
                recognizer=recognizer or self.recognizer,
                gallery=gallery or cache.current,  # type: ignore[arg-type]
                access=access.current,
                actuator=door,  # type: ignore[arg-type]
                record=_recorder(self.engine, self.keyring),
                settings=settings,
                monotonic=self.clock,
                utc_now=lambda: utc_now,
            )
        )
        return decisions, door


@pytest.fixture
def run(engine, keyring, recognizer) -> GateRun:
    return GateRun(engine=engine, keyring=keyring, recognizer=recognizer, clock=FakeClock(100.0))


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


def _alice_frames(recognizer: Recognizer, group_faces, count: int = 4):
    return build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=count)


def test_grants_the_enrolled_person_and_denies_the_stranger(
    run, engine, recognizer, group_faces, enroll_person, scene
):
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    enroll_person("Carol", group_faces[2])  # a runner-up, so every match has a margin

    decisions, door = run(scene)  # k=3 of n=5; a track dies after 5 missed frames; no cooldown

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
    # The default FPIR target (1e-3) on the packaged SFace calibration, at this gallery's two templates.
    expected = door_operating_threshold(
        recognizer, fpir_target=NO_COOLDOWN.decision.fpir_target, gallery_size=2
    ).cos_threshold
    assert all(d.verdict.score >= d.threshold == expected for d in grants)
    assert all(d.verdict.margin_cos >= NO_COOLDOWN.decision.min_margin_cos for d in grants)
    assert decisions[1].verdict.score < expected
    assert [(u.door, u.duration_s) for u in door.unlocks] == [(DOOR, NO_COOLDOWN.door.unlock_s)] * len(grants)
    rows = _audit_rows(engine)
    # Each unlock's id is its grant's public event_uid, new for each grant (a controller drops repeats by it).
    granted_uids = [r.event_uid for r in rows if r.decision is Decision.granted]
    assert [u.unlock_id for u in door.unlocks] == granted_uids
    assert len({u.unlock_id for u in door.unlocks}) == 2
    assert [(r.track_id, r.decision, r.reason, r.person_id) for r in rows] == [
        (d.track_id, d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions
    ]
    for row, decision in zip(rows, decisions, strict=True):
        assert row.score == pytest.approx(decision.verdict.score)
        assert row.threshold == pytest.approx(decision.threshold)
        assert row.margin == pytest.approx(decision.verdict.margin_cos)
        assert row.quality == pytest.approx(decision.verdict.quality) and 0.0 < row.quality <= 1.0
        assert row.rule == f"3/5 fresh frames, cos>={expected:.3f} (FPIR 1e-03 @ N=2), margin>=0.05"
        assert (row.door, row.source, row.model_id) == (DOOR, SOURCE, recognizer.model_id)
        assert row.weights_hash == recognizer.weights_sha256 and len(row.weights_hash) == 64
        assert row.occurred_at.tzinfo is not None and row.occurred_at.utcoffset().total_seconds() == 0


def _ticking(frames: list, clock: FakeClock, *, step_s: float) -> Iterator:
    for frame in frames:
        yield frame
        clock.advance(step_s)


def test_a_person_is_decided_once_per_cooldown_at_a_door(run, recognizer, group_faces, enroll_person, scene):
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    settings = GateSettings(decision=DecisionSettings(cooldown_s=10.0))

    # Frames 0.5 s apart: Alice's second track (granted at frame 14 without a cooldown) comes 6 s later.
    decisions, door = run(_ticking(scene, run.clock, step_s=0.5), settings)
    assert [(d.frame_index, d.verdict.person_id) for d in decisions] == [(2, alice_id), (8, None)]
    assert len(door.unlocks) == 1

    # 1 s apart: 12 s later, the cooldown is over.
    decisions, door = run(_ticking(scene, run.clock, step_s=1.0), settings)
    assert [(d.frame_index, d.verdict.person_id) for d in decisions] == [
        (2, alice_id),
        (8, None),
        (14, alice_id),
    ]
    assert len(door.unlocks) == 2


def test_audit_rows_hold_only_ids_and_scores(run, engine, group_faces, enroll_person, scene):
    enroll_person(ALICE_NAME, group_faces[0])
    run(scene)

    columns = {column["name"] for column in inspect(engine).get_columns("audit_event")}
    assert columns == AUDIT_FIELDS | HIDDEN_COLUMNS
    rows = _audit_rows(engine)
    assert rows
    for row in rows:
        values = row.model_dump()
        assert set(values) == AUDIT_FIELDS
        for name, value in values.items():
            assert value is None or isinstance(value, int | float | str | datetime), (name, type(value))
            assert not isinstance(value, str) or ALICE_NAME.split()[0] not in value, name


def test_an_empty_gallery_denies_every_track_and_never_unlocks(run, engine, scene):
    decisions, door = run(scene)

    assert [(d.frame_index, d.track_id) for d in decisions] == [(0, 1), (6, 2), (12, 3)]  # first sight
    assert all(
        d.verdict.decision is Decision.denied and d.verdict.reason == "gallery_empty" for d in decisions
    )
    assert all(d.verdict.person_id is None and d.verdict.score is None for d in decisions)
    assert door.unlocks == []
    rows = _audit_rows(engine)
    assert [(r.decision, r.reason, r.rule, r.score) for r in rows] == [
        (Decision.denied, "gallery_empty", "fail closed: gallery_empty", None)
    ] * 3
    assert all(r.quality is not None for r in rows)


def test_frames_without_faces_decide_nothing(run, engine, group_faces, enroll_person):
    enroll_person(ALICE_NAME, group_faces[0])
    decisions, door = run(build_frames([], count=5))
    assert decisions == [] and door.unlocks == [] and _audit_rows(engine) == []


def test_a_door_that_fails_to_unlock_is_audited_as_a_denial(
    run, engine, recognizer, group_faces, enroll_person
):
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    decisions, door = run(_alice_frames(recognizer, group_faces), door=FailingDoor())
    assert door.attempts == 1
    verdicts = [(d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions]
    assert verdicts == [(Decision.denied, "door_error", alice_id)]
    assert [(e.decision, e.reason) for e in _audit_rows(engine)] == [(Decision.denied, "door_error")]


def test_a_grant_under_a_rule_in_a_zone_this_gate_cannot_read_is_an_audited_denial(
    run, engine, recognizer, group_faces, enroll_person
):
    """A rule stored in a zone this gate's time zone database lacks: the worker raised ZoneInfoNotFoundError
    at the grant (its process ended and was restarted) and nothing was audited (F3)."""
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    with session_scope(engine) as session:
        staff = create_group(session, name="staff")
        add_member(session, group_id=staff.id, person_id=alice_id)
        every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        rule = DoorRuleCreate(
            door=DOOR, create_door=True, group_id=staff.id, weekdays=every_day, start="00:00", end="24:00"
        )
        rule_id = create_door_rule(session, rule).id
    with engine.begin() as connection:  # as a server with a newer tzdata stores it
        connection.execute(
            text("UPDATE door_access_rule SET timezone = 'America/Nowhere' WHERE id = :id"), {"id": rule_id}
        )

    decisions, door = run(_alice_frames(recognizer, group_faces))

    assert door.unlocks == []
    verdicts = [(d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions]
    assert verdicts == [(Decision.denied, "not_authorised", alice_id)]
    assert [(e.decision, e.reason) for e in _audit_rows(engine)] == [(Decision.denied, "not_authorised")]


def test_an_unreachable_mqtt_broker_is_audited_as_a_door_error(
    run, engine, recognizer, group_faces, enroll_person
):
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
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
    decisions, _ = run(_alice_frames(recognizer, group_faces), door=dead_broker)
    assert time.monotonic() - started_s < 10.0
    verdicts = [(d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions]
    assert verdicts == [(Decision.denied, "door_error", alice_id)]
    assert [(e.decision, e.reason) for e in _audit_rows(engine)] == [(Decision.denied, "door_error")]


def test_a_webhook_that_acts_then_answers_late_is_audited_as_a_grant_not_confirmed(
    run, engine, recognizer, group_faces, enroll_person
):
    """A real HTTP webhook took the unlock (a controller opens the door on it) and answered after timeout_s:
    the audit said "denied: door_error", a certain denial, though the door opened. It is now granted with
    reason door_unconfirmed, Alice's id kept."""
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    acted: list[dict[str, object]] = []
    answer = threading.Event()

    class Controller(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            acted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            answer.wait(10.0)  # the door is open; the answer comes late
            try:
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                return

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Controller)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    webhook = HttpWebhookDoor(
        url=f"http://127.0.0.1:{server.server_address[1]}/unlock",
        timeout_s=0.3,
        token=None,
        utc_now=lambda: datetime.now(UTC),
    )
    try:
        decisions, _ = run(_alice_frames(recognizer, group_faces), door=webhook)
    finally:
        answer.set()
        server.shutdown()
        server.server_close()
        serving.join()
    assert [(a["door"], a["action"]) for a in acted] == [(DOOR, "unlock")]
    verdicts = [(d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions]
    assert verdicts == [(Decision.granted, "door_unconfirmed", alice_id)]
    rows = _audit_rows(engine)
    assert [(e.decision, e.reason, e.person_id) for e in rows] == [
        (Decision.granted, "door_unconfirmed", alice_id)
    ]


def test_an_unreadable_gallery_is_audited_once_per_interval_and_decides_nothing(
    run, engine, recognizer, group_faces, enroll_person, scene
):
    enroll_person(ALICE_NAME, group_faces[0])

    def broken_gallery():
        raise UnknownKeyId("gallery encrypted with a key that is not loaded")

    # 18 frames 1 s apart with the default 30 s interval: one event; 2 s apart: two (at 0 s and 30 s).
    decisions, door = run(_ticking(scene, run.clock, step_s=1.0), gallery=broken_gallery)
    assert decisions == [] and door.unlocks == []
    rows = _audit_rows(engine)
    assert [(r.decision, r.reason, r.rule, r.track_id, r.person_id) for r in rows] == [
        (Decision.denied, "gallery_unavailable", "fail closed: gallery_unavailable", None, None)
    ]
    assert rows[0].weights_hash == recognizer.weights_sha256
    run(_ticking(scene, run.clock, step_s=2.0), gallery=broken_gallery)
    assert len(_audit_rows(engine)) == 1 + 2


def test_a_door_that_is_no_door_is_audited_as_unknown_door_and_opens_for_nobody(
    run, engine, recognizer, group_faces, enroll_person
):
    """A gate whose door name is no door's (nor a former one) read no rules: every enrolled person passed."""
    enroll_person(ALICE_NAME, group_faces[0])
    decisions, door = run(_alice_frames(recognizer, group_faces), is_door_registered=False)
    assert decisions == [] and door.unlocks == []
    assert [(r.decision, r.reason, r.rule, r.person_id) for r in _audit_rows(engine)] == [
        (Decision.denied, "unknown_door", "fail closed: unknown_door", None)
    ]


def test_a_gallery_of_another_model_is_denied_as_unknown_model(run, engine, recognizer, group_faces):
    foreign = Gallery(
        FaissFlatGallery(model_id="someone-else@9", dim=recognizer.embedder.dim),
        lookalike_min_cos=recognizer.cos_threshold,
    )
    vector = np.zeros(recognizer.embedder.dim, dtype=np.float32)
    vector[0] = 1.0
    foreign.add("t1", 1, vector)

    decisions, door = run(_alice_frames(recognizer, group_faces), gallery=lambda: foreign)

    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [(Decision.denied, "unknown_model")]
    assert door.unlocks == []
    assert [r.reason for r in _audit_rows(engine)] == ["unknown_model"]


@dataclass
class CountingEmbedder:
    """The real embedder, counting its calls."""

    inner: object
    calls: int = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed(self, aligned_face):
        self.calls += 1
        return self.inner.embed(aligned_face)


@dataclass
class BrokenEmbedder:
    """The real embedder's identity with a fault: every vector it returns is zero (a corrupted model)."""

    inner: object

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed(self, aligned_face):
        return np.zeros_like(self.inner.embed(aligned_face))


def _with_embedder(recognizer: Recognizer, embedder: object) -> Recognizer:
    return Recognizer(detector=recognizer.detector, embedder=embedder, limits=recognizer.limits)  # type: ignore[arg-type]


def test_faces_of_decided_tracks_are_not_embedded(run, recognizer, group_faces, enroll_person):
    enroll_person(ALICE_NAME, group_faces[0])
    counting = CountingEmbedder(recognizer.embedder)

    decisions, _ = run(
        _alice_frames(recognizer, group_faces, count=8), recognizer=_with_embedder(recognizer, counting)
    )

    assert [d.frame_index for d in decisions] == [2]
    assert counting.calls == NO_COOLDOWN.decision.votes_required


def test_low_quality_faces_are_not_embedded_and_deny_the_track(
    run, engine, recognizer, group_faces, enroll_person
):
    enroll_person(ALICE_NAME, group_faces[0])
    counting = CountingEmbedder(recognizer.embedder)
    settings = GateSettings(decision=DecisionSettings(min_face_quality=1.0, cooldown_s=0.0))

    decisions, door = run(
        _alice_frames(recognizer, group_faces), settings, recognizer=_with_embedder(recognizer, counting)
    )

    assert [(d.frame_index, d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (2, Decision.denied, "low_quality")
    ]
    assert counting.calls == 0 and door.unlocks == []
    [row] = _audit_rows(engine)
    assert row.score is None and row.quality is not None and row.quality < 1.0


def test_a_failing_model_keeps_the_door_shut_and_is_audited(
    run, engine, recognizer, group_faces, enroll_person
):
    enroll_person(ALICE_NAME, group_faces[0])
    broken = _with_embedder(recognizer, BrokenEmbedder(recognizer.embedder))

    decisions, door = run(_alice_frames(recognizer, group_faces, count=6), recognizer=broken)

    assert decisions == [] and door.unlocks == []
    rows = _audit_rows(engine)
    assert [(r.decision, r.reason, r.track_id) for r in rows] == [(Decision.denied, "recognition_error", 1)]


def test_an_empty_frame_is_audited_as_a_recognition_error_and_the_gate_goes_on(
    run, engine, recognizer, group_faces, enroll_person
):
    # A 0×0 frame from a source raised ZeroDivisionError out of the detector and ended the worker.
    enroll_person(ALICE_NAME, group_faces[0])
    empty = np.zeros((0, 0, 3), dtype=np.uint8)

    decisions, door = run([empty, *_alice_frames(recognizer, group_faces, count=6)])

    assert [d.verdict.decision for d in decisions] == [Decision.granted] and len(door.unlocks) == 1
    rows = _audit_rows(engine)
    assert [(r.decision, r.reason) for r in rows] == [
        (Decision.denied, "recognition_error"),
        (Decision.granted, "match"),
    ]


def test_a_look_alike_enrolled_twice_is_denied_as_ambiguous(
    run, engine, recognizer, group_faces, enroll_person
):
    enroll_person(ALICE_NAME, group_faces[0])
    enroll_person("Alice's twin", group_faces[0])  # the same face: the runner-up scores the same

    decisions, door = run(_alice_frames(recognizer, group_faces))

    assert [(d.verdict.decision, d.verdict.reason, d.verdict.person_id) for d in decisions] == [
        (Decision.denied, "ambiguous", None)
    ]
    assert door.unlocks == []
    [row] = _audit_rows(engine)
    assert row.margin is not None and row.margin < NO_COOLDOWN.decision.min_margin_cos


def test_look_alikes_need_the_wider_margin_and_others_do_not(
    run, engine, recognizer, group_faces, enroll_person
):
    enroll_person(ALICE_NAME, group_faces[0])
    enroll_person("Alice's twin", group_faces[0])
    carol_id = enroll_person("Carol", group_faces[2])
    # No margin at all for strangers to each other: only the look-alike rule can refuse the twins.
    decision = NO_COOLDOWN.decision.model_copy(update={"min_margin_cos": 0.0, "confusable_margin_cos": 0.15})
    settings = NO_COOLDOWN.model_copy(update={"decision": decision})

    twins, _ = run(_alice_frames(recognizer, group_faces), settings)
    carol_frames = build_frames([Placement(recognizer.decode(group_faces[2]), 30, 100)], count=4)
    carol, _ = run(carol_frames, settings)

    assert [(d.verdict.decision, d.verdict.reason) for d in twins] == [(Decision.denied, "ambiguous")]
    assert [(d.verdict.decision, d.verdict.person_id) for d in carol] == [(Decision.granted, carol_id)]
    rules = [row.rule for row in _audit_rows(engine)]
    assert rules and all(rule.endswith("margin>=0.00 (0.15 for look-alikes)") for rule in rules)


def _live(frames: list, *, captured_at_s: float) -> list[CapturedFrame]:
    return [CapturedFrame(image=frame, captured_at_s=captured_at_s) for frame in frames]


def test_stale_live_frames_are_never_decided_on(run, engine, recognizer, group_faces, enroll_person, caplog):
    caplog.set_level(logging.INFO)
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    frames = _alice_frames(recognizer, group_faces)
    max_age_s = NO_COOLDOWN.decision.max_frame_age_s

    decisions, door = run(_live(frames, captured_at_s=run.clock.now_s - max_age_s - 0.01))
    assert decisions == [] and door.unlocks == [] and _audit_rows(engine) == []
    assert "not decided on" in caplog.text

    decisions, door = run(_live(frames, captured_at_s=run.clock.now_s - max_age_s))
    assert [(d.verdict.decision, d.verdict.person_id) for d in decisions] == [(Decision.granted, alice_id)]


def test_debug_logs_of_enrollment_and_gate_hold_no_template_values(
    run, engine, keyring, recognizer, group_faces, enroll_person, scene, caplog
):
    caplog.set_level(logging.DEBUG)
    enroll_person(ALICE_NAME, group_faces[0])
    decisions, _ = run(scene)
    with session_scope(engine) as session:
        templates = list(iter_templates(session, keyring, model_id=recognizer.model_id))
    vectors = [vector_from_bytes(t.plaintext, dim=recognizer.embedder.dim) for t in templates]

    assert decisions and len(caplog.records) > 5
    assert template_leaks(caplog.text.encode(), vectors) == []
    assert ALICE_NAME not in caplog.text


def test_a_camera_outage_is_audited_denied_and_ends_the_tracks(
    run, engine, recognizer, group_faces, enroll_person
):
    enroll_person(ALICE_NAME, group_faces[0])
    frames = _alice_frames(recognizer, group_faces)
    outage = SourceOutage(source=SOURCE, started_at_s=12.0, reason="stream_ended")

    # k=3: two votes before the outage and two after would grant if the track survived it.
    decisions, door = run([*frames[:2], outage, *frames[2:]])

    assert decisions == [] and door.unlocks == []
    [row] = _audit_rows(engine)
    assert (row.decision, row.reason, row.track_id, row.person_id, row.score) == (
        Decision.denied,
        CAMERA_UNAVAILABLE,
        None,
        None,
        None,
    )
    assert (row.source, row.model_id, row.weights_hash) == (
        SOURCE,
        recognizer.model_id,
        recognizer.weights_sha256,
    )


def test_a_flapping_camera_audits_every_drop_and_logs_only_its_first_outage(run, engine, caplog):
    """The reader logs a camera that keeps coming back and dropping as one outage; the gate logged a
    WARNING line for each drop as well."""
    caplog.set_level(logging.DEBUG, logger="gate.worker")
    first = SourceOutage(source=SOURCE, started_at_s=12.0, reason="open_failed")
    flaps = [SourceOutage(SOURCE, started_at_s=13.0 + s, reason="ended", is_flap=True) for s in range(3)]

    run([first, *flaps])

    audited = [(r.decision, r.reason) for r in _audit_rows(engine)]
    assert audited == [(Decision.denied, CAMERA_UNAVAILABLE)] * 4  # every drop, as before
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if "door stays shut" in r.getMessage()]
    shut = f"door {DOOR}: source {SOURCE} unavailable (%s); door stays shut"
    assert lines == [(logging.WARNING, shut % "open_failed")] + [(logging.DEBUG, shut % "ended")] * 3


def test_the_audit_records_the_fpir_threshold_the_door_used(
    run, engine, recognizer, group_faces, enroll_person
):
    alice_id = enroll_person(ALICE_NAME, group_faces[0])
    calibrated = calibrated_recognizer(recognizer)
    settings = GateSettings(decision=DecisionSettings(cooldown_s=0.0, fpir_target=1e-2))
    expected = door_operating_threshold(calibrated, fpir_target=1e-2, gallery_size=1)
    assert expected.cos_threshold != recognizer.cos_threshold

    decisions, _ = run(_alice_frames(recognizer, group_faces), settings, recognizer=calibrated)

    assert [(d.verdict.person_id, d.threshold) for d in decisions] == [(alice_id, expected.cos_threshold)]
    [row] = _audit_rows(engine)
    assert row.threshold == pytest.approx(expected.cos_threshold)
    assert row.rule == f"3/5 fresh frames, cos>={expected.cos_threshold:.3f} (FPIR 1e-02 @ N=1), margin>=0.05"


def test_an_fpir_target_the_model_cannot_meet_stops_the_gate_before_any_frame(
    engine, keyring, recognizer, group_faces
):
    uncalibrated = recalibrated(recognizer, None)
    run = GateRun(engine=engine, keyring=keyring, recognizer=uncalibrated, clock=FakeClock(100.0))
    settings = GateSettings(decision=DecisionSettings(fpir_target=1e-2))
    with pytest.raises(ThresholdUnavailable):
        run(_alice_frames(recognizer, group_faces), settings)
    assert _audit_rows(engine) == []
