"""CameraProbe and GateMetrics on the real models: every stage is timed, frames and lag counted, every audited
decision counted by reason (fail-closed denials too), ids only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gate import (
    CAMERA_UNAVAILABLE,
    CameraProbe,
    CapturedFrame,
    DecisionMade,
    EventAudited,
    EventJournal,
    FrameSeen,
    GalleryChecked,
    GalleryConfirmed,
    GalleryStale,
    GateMetrics,
    GateRuntime,
    GateSettings,
    JournalPending,
    OutageSeen,
    SourceOutage,
    StageTimed,
    TelemetryEvent,
    fan_out,
    gate_decisions,
    run_gate,
)
from recognition import Recognizer
from storage import AuditEventCreate, Decision, Engine, Keyring, StorageSettings
from tests.fakes import FakeClock, Placement, RecordingDoor, build_frames, paste_frame, write_video

GALLERY_UNAVAILABLE = "gallery_unavailable"


def _probe(events: list[TelemetryEvent], clock: FakeClock) -> CameraProbe:
    return CameraProbe(camera="front-cam", door="front", telemetry=events.append, clock=clock)


def test_timed_recognizer_reports_detect_and_embed_and_gives_the_same_embeddings(
    recognizer: Recognizer, group_faces: list[bytes]
) -> None:
    events: list[TelemetryEvent] = []
    timed = _probe(events, FakeClock()).recognizer(recognizer)
    frame = paste_frame([Placement(recognizer.decode(group_faces[0]), 30, 100)])

    observed = timed.observe(frame)
    plain = recognizer.observe(frame)

    assert len(observed) == len(plain) == 1
    assert observed[0].embedding.vector.tolist() == plain[0].embedding.vector.tolist()
    assert (timed.model_id, timed.cos_threshold) == (recognizer.model_id, recognizer.cos_threshold)
    assert [e.stage for e in events if isinstance(e, StageTimed)] == ["detect", "embed"]


def test_gallery_searches_are_timed_as_match(recognizer: Recognizer, group_faces: list[bytes]) -> None:
    events: list[TelemetryEvent] = []
    clock = FakeClock()
    [observation] = recognizer.observe(recognizer.decode(group_faces[1]))
    stored = observation.embedding.vector.astype("<f4").tobytes()
    gallery = _probe(events, clock).gallery(lambda: recognizer.new_gallery([("t1", 7, stored)]))

    matches = gallery().search(observation.embedding.vector, 1)

    assert [m.person_id for m in matches] == [7] and len(gallery()) == 1
    assert events == [GalleryChecked("front-cam", True), StageTimed("front-cam", "match", 0.0)]  # on change


def test_frames_are_counted_with_reader_lag_and_outages(recognizer: Recognizer) -> None:
    events: list[TelemetryEvent] = []
    clock = FakeClock(now_s=100.0)
    image = paste_frame([])
    items = [CapturedFrame(image, captured_at_s=99.75), SourceOutage("cam", 100.0, "ended"), image]

    passed = []
    for item in _probe(events, clock).frames(items):
        passed.append(item)
        clock.advance(0.5)

    assert passed == items
    assert events == [
        FrameSeen("front-cam", lag_s=0.25),
        StageTimed("front-cam", "frame", 0.5),
        OutageSeen("front-cam", "ended"),
        FrameSeen("front-cam", lag_s=None),
        StageTimed("front-cam", "frame", 0.5),
    ]


def test_exposition_has_every_instrument_by_camera_and_decision() -> None:
    metrics = GateMetrics()
    seen: list[TelemetryEvent] = []
    telemetry = fan_out(metrics, seen.append)
    telemetry(FrameSeen("a", lag_s=0.04))
    telemetry(FrameSeen("a", lag_s=None))
    telemetry(StageTimed("a", "detect", 0.02))
    telemetry(OutageSeen("a", "ended"))
    telemetry(DecisionMade("a", "front", 3, 1, "granted", "match", 7, 0.61, 0.36))  # counted as audited
    telemetry(EventAudited("a", "front", "granted", "match"))
    telemetry(EventAudited("a", "front", "denied", "unknown"))
    telemetry(EventAudited("a", "front", "denied", "Alice Example"))  # no reason the gate audits: "other"

    text = metrics.exposition().decode()

    assert len(seen) == 8
    assert 'facegate_frames_total{camera="a"} 2.0' in text
    assert 'facegate_reader_lag_seconds{camera="a"} 0.04' in text
    assert 'facegate_stage_seconds_count{camera="a",stage="detect"} 1.0' in text
    assert 'facegate_camera_outages_total{camera="a"} 1.0' in text
    assert 'facegate_decisions_total{camera="a",decision="granted",door="front",reason="match"} 1.0' in text
    assert 'facegate_decisions_total{camera="a",decision="denied",door="front",reason="unknown"} 1.0' in text
    assert 'facegate_decisions_total{camera="a",decision="denied",door="front",reason="other"} 1.0' in text
    assert "Alice" not in text


def _count(text: str, *, camera: str, door: str, reason: str) -> str:
    return f'facegate_decisions_total{{camera="{camera}",decision="denied",door="{door}",reason="{reason}"}}'


def test_fail_closed_denials_of_the_loop_are_counted_by_reason(
    recognizer: Recognizer, group_faces: list[bytes]
) -> None:
    """A camera outage and a gallery past its stale limit are audited denials that yield no decision: the
    metrics counted only what run_gate yielded, so an alert on denials by reason never saw an outage. The
    probe's audit callable now counts every audited event (run_gate, real models, the production loop)."""
    metrics = GateMetrics()
    probe = CameraProbe(camera="front-cam", door="front", telemetry=metrics, clock=FakeClock())
    audited: list[AuditEventCreate] = []

    def stale_gallery() -> object:
        raise GalleryStale("database unreachable for 301.0 s (stale gallery limit 300 s)")

    outage = SourceOutage(source="cam", started_at_s=12.0, reason="open_failed")
    frames = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=3)
    decisions = list(
        run_gate(
            probe.frames([outage, *frames]),
            door="front",
            source_name="cam",
            recognizer=recognizer,
            gallery=stale_gallery,  # type: ignore[arg-type]
            access=lambda: None,  # type: ignore[arg-type,return-value]  # never asked: the gallery fails first
            actuator=RecordingDoor(),
            record=probe.record(audited.append),
            settings=GateSettings(),
            monotonic=FakeClock(100.0),
            utc_now=lambda: datetime.now(UTC),
        )
    )

    text = metrics.exposition().decode()
    assert decisions == []
    assert [(e.decision.value, e.reason) for e in audited] == [
        ("denied", CAMERA_UNAVAILABLE),
        ("denied", GALLERY_UNAVAILABLE),
    ]
    for reason in (CAMERA_UNAVAILABLE, GALLERY_UNAVAILABLE):
        assert f"{_count(text, camera='front-cam', door='front', reason=reason)} 1.0" in text


def test_the_gates_wiring_counts_an_unknown_door_denial(
    tmp_path: Path,
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    enroll_person: Callable[..., int],
) -> None:
    """The composition root's gate (gate_decisions: journal, gallery source, probe) at a door that is no
    door's name: every face denied unknown_door, audited, no decision; the metrics now count it."""
    enroll_person("Alice Example", group_faces[0])
    frames = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=6)
    video = write_video(tmp_path / "door.avi", frames)
    runtime = GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"), engine=engine, keyring=keyring, recognizer=recognizer
    )
    metrics = GateMetrics()
    probe = CameraProbe(camera="misspelt-cam", door="frnot", telemetry=metrics, clock=FakeClock())
    settings = GateSettings(journal_dir=tmp_path / "journal")

    decisions = list(gate_decisions(runtime, source=video, door="frnot", settings=settings, probe=probe))

    text = metrics.exposition().decode()
    assert decisions == []
    assert f"{_count(text, camera='misspelt-cam', door='frnot', reason='unknown_door')} 1.0" in text
    assert "Alice" not in text


def _sample(text: str, name: str, camera: str) -> float:
    [value] = re.findall(rf'^{name}{{camera="{camera}"}} (\S+)$', text, flags=re.MULTILINE)
    return float(value)


def test_the_gallery_age_and_the_journal_backlog_are_reported_on_change(tmp_path: Path) -> None:
    """The probe reads the gallery's confirmation and the journal's backlog as frames come and reports each
    when it changes; the gallery's age grows on the metrics' clock between events (a real journal)."""
    events: list[TelemetryEvent] = []
    probe_clock, metrics_clock = FakeClock(now_s=50.0), FakeClock(now_s=1000.0)
    metrics = GateMetrics(clock=metrics_clock)
    telemetry = fan_out(metrics, events.append)
    probe = CameraProbe(camera="edge-cam", door="front", telemetry=telemetry, clock=probe_clock)
    confirmed_at_s: list[float | None] = [None]
    with EventJournal(tmp_path / "journal", utc_now=lambda: datetime.now(UTC)) as journal:
        probe.watch(
            gallery_confirmed_at_s=lambda: confirmed_at_s[0],
            journal_events=lambda: journal.pending_count,
            max_stale_s=300.0,
            monotonic=probe_clock,
        )
        image = paste_frame([])
        for step in range(4):
            if step == 1:
                confirmed_at_s[0] = 40.0  # 10 s before the probe's now
            if step == 2:
                journal.append(_denial())
                journal.append(_denial())
            next(iter(probe.frames([image])))

    backlog = [e for e in events if isinstance(e, GalleryConfirmed | JournalPending)]
    assert backlog == [
        JournalPending("edge-cam", 0),
        GalleryConfirmed("edge-cam", age_s=10.0, max_stale_s=300.0),
        JournalPending("edge-cam", 2),
    ]
    metrics_clock.advance(25.0)  # no event since: the age still grows
    text = metrics.exposition().decode()
    assert _sample(text, "facegate_gallery_age_seconds", "edge-cam") == 35.0
    assert _sample(text, "facegate_gallery_max_stale_seconds", "edge-cam") == 300.0
    assert _sample(text, "facegate_journal_events", "edge-cam") == 2.0


def _denial() -> AuditEventCreate:
    return AuditEventCreate(
        door="front", source="cam", decision=Decision.denied, reason="unknown", model_id="m", threshold=0.4
    )


def test_the_gates_wiring_reports_the_gallery_age_and_the_journal_backlog(
    tmp_path: Path,
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    enroll_person: Callable[..., int],
    register_door: Callable[..., None],
) -> None:
    """No metric said how old the gate's gallery was or how many audit events waited in its journal, so no
    alert could fire before gallery_max_stale_s locked the door; the composition root's gate (database
    source, journal, real video) now reports both."""
    register_door("front", engine=engine)
    enroll_person("Alice Example", group_faces[0])
    frames = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=6)
    video = write_video(tmp_path / "door.avi", frames)
    runtime = GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"), engine=engine, keyring=keyring, recognizer=recognizer
    )
    metrics_clock = FakeClock(now_s=1000.0)
    metrics = GateMetrics(clock=metrics_clock)
    probe = CameraProbe(camera="front-cam", door="front", telemetry=metrics, clock=FakeClock())
    settings = GateSettings(journal_dir=tmp_path / "journal", gallery_max_stale_s=120.0)

    decisions = list(gate_decisions(runtime, source=video, door="front", settings=settings, probe=probe))

    before = metrics.exposition().decode()
    metrics_clock.advance(60.0)
    after = metrics.exposition().decode()
    assert [d.verdict.decision for d in decisions] == [Decision.granted]
    age_s = _sample(before, "facegate_gallery_age_seconds", "front-cam")
    assert age_s >= 0.0
    assert _sample(after, "facegate_gallery_age_seconds", "front-cam") == pytest.approx(age_s + 60.0)
    assert _sample(before, "facegate_gallery_max_stale_seconds", "front-cam") == 120.0
    assert _sample(before, "facegate_journal_events", "front-cam") >= 0.0  # delivered meanwhile, or not yet
