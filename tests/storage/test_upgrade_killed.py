"""An upgrade killed halfway leaves the database as it was, and the next start finishes it."""

from __future__ import annotations

import signal
import subprocess
import sys

from sqlalchemy import Engine

from storage import Keyring, create_schema, make_engine
from storage.migrate import current_revision, head_revision, schema_drift
from tests.storage.audit_helpers import EVENTS, append, downgrade_to, verify

# Runs the upgrade and kills its own process (SIGKILL: no rollback, no cleanup) as it is about to record
# 0016, after 0013, 0014 and 0015 ran in the same transaction.
KILLED_UPGRADE = """
import os, signal, sys
from sqlalchemy import event
from storage import create_schema, make_engine

engine = make_engine(sys.argv[1])

@event.listens_for(engine, "before_cursor_execute")
def _kill(conn, cursor, statement, *args):
    if "SET version_num='0016'" in statement:
        os.kill(os.getpid(), signal.SIGKILL)

create_schema(engine)
"""


def test_an_upgrade_killed_halfway_is_undone_and_the_next_start_finishes_it(
    engine: Engine, database_url: str, keyring: Keyring
) -> None:
    downgrade_to(engine, "0012")
    append(engine, keyring, range(1, EVENTS + 1))
    engine.dispose()

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_UPGRADE, database_url], capture_output=True, text=True, timeout=120
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    restarted = make_engine(database_url)
    try:
        assert current_revision(restarted) == "0012"
        create_schema(restarted)
        assert current_revision(restarted) == head_revision()
        assert schema_drift(restarted) == []
        report = verify(restarted, keyring)
        assert report.is_ok
        assert report.events_checked == EVENTS
    finally:
        restarted.dispose()
