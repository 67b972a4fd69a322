"""Helpers shared by the journal, outage and SIGKILL tests: sample events and the audit log as stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from gate import EventJournal, JournalDeliverer
from gate.api_client import ApiClient
from gate.edge import http_sink
from storage import AuditEventCreate, Decision, Engine, Keyring, query_events, session_scope, verify_chain


@dataclass(frozen=True)
class StoredEvent:
    sequence: int
    event_uid: str | None
    occurred_at: datetime
    track_id: int | None
    decision: Decision


def sample_event(track_id: int) -> AuditEventCreate:
    """A gate decision as run_gate would record it (no decision time: the journal stamps it)."""
    return AuditEventCreate(
        door="front",
        source="replay:test",
        track_id=track_id,
        decision=Decision.denied if track_id % 2 else Decision.granted,
        reason="unknown" if track_id % 2 else "match",
        person_id=None if track_id % 2 else 7,
        score=0.1 + track_id / 100,
        threshold=0.363,
        model_id="sface-test",
    )


class StepClock:
    """A UTC wall clock that advances one millisecond per reading, so decision times are distinct."""

    def __init__(self) -> None:
        self._now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now


def stored_events(engine: Engine) -> list[StoredEvent]:
    """Every audit row in chain order, with the writer's event uid (not part of the public model)."""
    with engine.connect() as connection:
        uids = {
            seq: uid for seq, uid in connection.execute(text("SELECT sequence, event_uid FROM audit_event"))
        }
    with session_scope(engine) as session:
        rows, total = query_events(session, limit=100_000)
    assert total == len(rows) == len(uids)
    return [
        StoredEvent(r.sequence, uids[r.sequence], r.occurred_at, r.track_id, r.decision)
        for r in sorted(rows, key=lambda r: r.sequence)
    ]


def chain_holds(engine: Engine, keyring: Keyring) -> bool:
    with session_scope(engine) as session:
        report = verify_chain(session, keyring)
    return report.reason is None


@contextmanager
def delivering_one_event(client: ApiClient, journal_dir: Path) -> Iterator[JournalDeliverer]:
    """A started JournalDeliverer posting one journalled event through `client` (doubling waits from
    0.5 s up to 10 s); stopped without draining on leaving."""
    with EventJournal(journal_dir, utc_now=StepClock()) as journal:
        deliverer = JournalDeliverer(
            journal,
            sink=http_sink(client, timeout_s=30.0),
            retry_initial_s=0.5,
            retry_max_s=10.0,
            monotonic=time.monotonic,
        )
        deliverer.record(sample_event(1))
        deliverer.start()
        try:
            yield deliverer
        finally:
            deliverer.stop(drain_timeout_s=0.0)
