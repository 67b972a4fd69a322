"""A real MJPEG camera that drops and comes back, read by the gate's own wiring (`gate_decisions`).

The gate is what `python -m gate --source URL` runs in-process: the live reader, run_gate, the journal and
its deliverer into the audit log, with the real models, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gate import (
    CAMERA_UNAVAILABLE,
    TRACK_ID_EPOCH,
    DecisionSettings,
    GateRuntime,
    GateSettings,
    gate_decisions,
)
from storage import Decision, EventFilter, StorageSettings, query_events, session_scope
from tests.fakes import Placement, build_frames
from tests.gate.mjpeg import MjpegCamera

DOOR = "front"


def _settings(tmp_path: Path) -> GateSettings:
    return GateSettings(
        decision=DecisionSettings(cooldown_s=0.0),  # the same person is decided again after the outage
        journal_dir=tmp_path / "journal",
        journal_retry_initial_s=0.05,
        journal_retry_max_s=0.2,
        camera_timeout_s=5.0,
        camera_reconnect_initial_s=0.05,
        camera_reconnect_max_s=0.2,
    )


def test_a_track_after_a_camera_outage_gets_an_id_no_earlier_track_of_the_run_had(
    tmp_path, engine, keyring, recognizer, group_faces, enroll_person, register_door
):
    """The loop's tracker was rebuilt at each outage and numbered its tracks from 1 again, so the audit log
    named the track before the outage and the one after it alike: one door, one camera, minutes apart."""
    register_door(DOOR, engine=engine)
    alice_id = enroll_person("Alice", group_faces[0])
    frames = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=10, drift_px=0)
    camera = MjpegCamera(frames, interval_s=0.05, is_looping=True)
    runtime = GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"), engine=engine, keyring=keyring, recognizer=recognizer
    )
    decisions = []
    try:
        run = gate_decisions(runtime, source=camera.url, door=DOOR, settings=_settings(tmp_path))
        with closing(run):
            decisions.append(next(run))
            camera.stop()  # the connection drops; the face is still there when the camera comes back
            camera = MjpegCamera(frames, interval_s=0.05, port=camera.port, is_looping=True)
            decisions.append(next(run))
    finally:
        camera.stop()

    granted = (Decision.granted, alice_id)
    assert [(d.verdict.decision, d.verdict.person_id) for d in decisions] == [granted, granted]
    with session_scope(engine) as session:
        events, _ = query_events(session, where=EventFilter(door=DOOR), limit=100)
    rows = [(e.reason, e.track_id) for e in sorted(events, key=lambda e: e.sequence)]
    first, second = (d.track_id for d in decisions)
    assert rows == [("match", first), (CAMERA_UNAVAILABLE, None), ("match", second)]
    assert second > first


def _past_the_second_of(started: datetime) -> None:
    """Wait until the wall clock's whole second is past `started`'s (a worker's restart takes longer)."""
    while int(datetime.now(UTC).timestamp()) <= int(started.timestamp()):
        time.sleep(0.05)


def test_a_track_after_the_gate_restarts_gets_an_id_no_earlier_run_had(
    tmp_path, engine, keyring, recognizer, group_faces, enroll_person, register_door
):
    """Each run of the gate (a camera worker the watchdog restarted, a restarted daemon) numbered its tracks
    from 1, so the audit log named two people, one before the restart and one after, by the same camera and
    track id on the same day. A run now numbers them from the seconds between TRACK_ID_EPOCH and its start."""
    register_door(DOOR, engine=engine)
    people = [enroll_person("Alice", group_faces[0]), enroll_person("Bob", group_faces[1])]
    runtime = GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"), engine=engine, keyring=keyring, recognizer=recognizer
    )
    decisions, port = [], 0
    for face in group_faces[:2]:  # Alice before the restart, Bob after it, at the same camera
        started = datetime.now(UTC)
        frames = build_frames([Placement(recognizer.decode(face), 30, 100)], count=10, drift_px=0)
        camera = MjpegCamera(frames, interval_s=0.05, port=port, is_looping=True)
        port = camera.port
        try:
            run = gate_decisions(runtime, source=camera.url, door=DOOR, settings=_settings(tmp_path))
            with closing(run):  # the run ends, as a dead worker's does
                decisions.append(next(run))
        finally:
            camera.stop()
        _past_the_second_of(started)

    assert [(d.verdict.decision, d.verdict.person_id) for d in decisions] == [
        (Decision.granted, person) for person in people
    ]
    with session_scope(engine) as session:
        events, _ = query_events(session, where=EventFilter(door=DOOR), limit=100)
    rows = [(e.source, e.track_id, e.person_id) for e in sorted(events, key=lambda e: e.sequence)]
    assert [row[2] for row in rows] == people
    assert rows[0][0] == rows[1][0] and rows[0][1] != rows[1][1]  # one camera: two tracks, two ids
    assert TRACK_ID_EPOCH + timedelta(seconds=rows[0][1]) <= datetime.now(UTC)  # the run's start, readable
