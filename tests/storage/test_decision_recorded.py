"""`recorded`: the audit log's own events (a re-anchoring) are no grant, and 0013 keeps old chains whole."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.util import CommandError

from storage import (
    BREAK_ACKNOWLEDGED,
    Decision,
    Engine,
    EventFilter,
    Keyring,
    append_event,
    count_events,
    create_schema,
    current_revision,
    make_engine,
    query_events,
    reanchor_checkpoint,
    schema_drift,
    session_scope,
)
from storage.migrate import upgrade_schema
from tests.storage.audit_helpers import EVENTS, append, downgrade_to, event, row, sql, verify
from tests.storage.migration_helpers import SHIPPED_HEAD, add_migration

NOW = datetime(2030, 1, 4, 10, 0, tzinfo=UTC)


def _reanchor_after_an_edit(engine: Engine, keyring: Keyring) -> None:
    sql(engine, "UPDATE audit_event SET score = 0.01 WHERE sequence = 3")
    with session_scope(engine) as session:
        reanchor_checkpoint(
            session, keyring, acknowledged=(3,), acknowledged_by="alice", note="INC-42", now=NOW
        )


def _sequences(engine: Engine, decision: Decision) -> list[int]:
    with session_scope(engine) as session:
        events, total = query_events(session, where=EventFilter(decision=decision), limit=100)
        assert count_events(session, where=EventFilter(decision=decision)) == total == len(events)
        return [event.sequence for event in events]


def test_a_re_anchoring_is_recorded_not_granted(chain: Engine, keyring: Keyring) -> None:
    _reanchor_after_an_edit(chain, keyring)

    acknowledgement = row(chain, EVENTS + 1)
    assert (acknowledgement["reason"], acknowledgement["decision"]) == (BREAK_ACKNOWLEDGED, "recorded")
    assert _sequences(chain, Decision.granted) == [10, 8, 6, 4, 2]
    assert _sequences(chain, Decision.denied) == [9, 7, 5, 3, 1]
    assert _sequences(chain, Decision.recorded) == [EVENTS + 1]


def test_upgrading_past_0013_keeps_old_events_verifying(engine: Engine, keyring: Keyring) -> None:
    downgrade_to(engine, "0012")
    append(engine, keyring, range(1, EVENTS + 1))

    create_schema(engine)

    assert schema_drift(engine) == []
    assert verify(engine, keyring).is_ok
    _reanchor_after_an_edit(engine, keyring)
    assert row(engine, EVENTS + 1)["decision"] == "recorded"
    sql(engine, "UPDATE audit_event SET score = 0.503 WHERE sequence = 3")  # the edit undone
    assert verify(engine, keyring).is_ok


# A later migration that writes `recorded`: a backfill of acknowledgements appended as `granted` before 0013.
BACKFILL = f"""
from alembic import op

revision = "0099"
down_revision = "{SHIPPED_HEAD}"


def upgrade() -> None:
    op.execute("UPDATE audit_event SET decision = 'recorded' WHERE reason = 'audit.break_acknowledged'")
"""


def test_a_later_migration_of_the_same_upgrade_run_can_use_recorded(
    database_url: str, keyring: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL refuses a label that ALTER TYPE ... ADD VALUE added until its transaction commits, and an
    upgrade run is one transaction: a database at 0012 could not be upgraded past such a migration."""
    engine = make_engine(database_url)
    upgrade_schema(engine, "0012")
    acknowledgement = event(1).model_copy(update={"reason": BREAK_ACKNOWLEDGED, "door": "audit"})
    with session_scope(engine) as session:
        append_event(session, keyring, acknowledgement)
    add_migration(tmp_path, monkeypatch, BACKFILL)

    upgrade_schema(engine)

    assert current_revision(engine) == "0099"
    assert row(engine, 1)["decision"] == "recorded"
    engine.dispose()


def test_a_log_holding_recorded_events_does_not_go_back_to_0012(chain: Engine, keyring: Keyring) -> None:
    _reanchor_after_an_edit(chain, keyring)

    with pytest.raises(CommandError, match="recorded"):
        downgrade_to(chain, "0012")
