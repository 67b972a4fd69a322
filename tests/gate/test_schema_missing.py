"""The schema dropped under a running database gate: every face is denied at once (not after the stale
gallery limit, as for an outage), and the gallery check's failure is logged once, naming the missing
table and `facegate init`. SQLite took it for an outage ('database unreachable') and
granted from the stale gallery; on PostgreSQL sqlalchemy's ProgrammingError ended the camera loop. The
audit journal keeps its events, as in an outage, until the schema is back."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gate import AccessPolicyCache, EventJournal, UpstreamUnavailable, database_sink, run_gate
from storage import AuditEventCreate, Decision, Engine, create_schema, ensure_door, session_scope
from tests.fakes import FakeClock, Placement, RecordingDoor, build_frames
from tests.gate.journal_support import StepClock, sample_event, stored_events
from tests.gate.test_gallery import MAX_STALE_S, POLL_S, _cache
from tests.gate.test_worker import DOOR, MONDAY_NOON_UTC, NO_COOLDOWN, SOURCE
from tests.storage.test_schema_missing import drop_every_table

FRAMES = 10  # 1 s apart: five version checks


def test_a_schema_dropped_under_the_gate_denies_every_face_and_is_logged_once(
    engine: Engine, keyring, recognizer, group_faces, enroll_person, caplog
) -> None:
    caplog.set_level(logging.INFO)
    enroll_person("Alice", group_faces[0])
    with session_scope(engine) as session:
        ensure_door(session, name=DOOR)
    clock = FakeClock(100.0)
    cache = _cache(engine, keyring, recognizer, clock, max_stale_s=MAX_STALE_S)  # an outage would serve it
    access = AccessPolicyCache(engine=engine, door=DOOR, poll_s=POLL_S, monotonic=clock)
    assert len(cache.current()) == 1 and access.current() is not None
    (alice,) = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=1)
    drop_every_table(engine)
    clock.advance(POLL_S)
    recorded: list[AuditEventCreate] = []

    def frames():
        for _ in range(FRAMES):
            yield alice
            clock.advance(1.0)

    decisions = list(
        run_gate(
            frames(),
            door=DOOR,
            source_name=SOURCE,
            recognizer=recognizer,
            gallery=cache.current,
            access=access.current,
            actuator=RecordingDoor(),
            record=recorded.append,
            settings=NO_COOLDOWN,
            monotonic=clock,
            utc_now=lambda: MONDAY_NOON_UTC,
        )
    )

    assert decisions == []
    assert [(event.decision, event.reason) for event in recorded] == [
        (Decision.denied, "gallery_unavailable")
    ]
    missing = "no such table: gallery_version"
    if engine.dialect.name == "postgresql":
        missing = 'relation "gallery_version" does not exist'
    checks = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "gate.gallery"]
    assert checks == [
        (
            logging.ERROR,
            "gallery check failed (SchemaMissing: the database lacks a table or column this release needs "
            f"({missing}): it has no schema revision: it was never migrated, or its tables were dropped "
            "after this process started; `facegate init` creates them); every face is denied until a check "
            "succeeds",
        )
    ]
    worker = [
        r.getMessage() for r in caplog.records if r.name == "gate.worker" and "gallery" in r.getMessage()
    ]
    assert len(worker) == 1 and "gallery unavailable (SchemaMissing: " in worker[0]


def test_the_audit_journal_keeps_its_events_until_the_schema_is_migrated_again(
    engine: Engine, keyring, tmp_path: Path
) -> None:
    """The delivery thread logged a traceback at every retry (an unexpected error), not one outage line."""
    sink = database_sink(engine, keyring)
    drop_every_table(engine)
    with EventJournal(tmp_path, utc_now=StepClock()) as journal:
        journal.append(sample_event(1))
        with pytest.raises(UpstreamUnavailable, match="no schema revision"):
            sink([entry.event for entry in journal.pending(10)])
        create_schema(engine)  # what `facegate init` runs

        assert sink([entry.event for entry in journal.pending(10)]) == 1
    assert [stored.track_id for stored in stored_events(engine)] == [1]
