"""Wall time of migration 0013 (`recorded`) on a large audit log: how long it holds audit_event.

On PostgreSQL 0013 moves audit_event.decision to a new enum type, which rewrites the table and its indexes
under an exclusive lock; on SQLite it widens the column by copying the table (Alembic's batch mode). Builds
a database at 0012 holding N events shaped like a door in PAD `monitor` (bench/audit_verify.py's events):
the first APPEND_BATCH_EVENTS through `append_event`, the rest copies of them made by SQL with new sequence
numbers, so the rows are the size of real ones but the chain past the first batch does not verify (the
migration reads no link). Then times `upgrade_schema(engine, "0013")` and prints one JSON line. PostgreSQL
URLs get a throw-away schema; SQLite URLs must name a file that does not exist yet.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/migration_0013.py --events 100000 \
        --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

from sqlalchemy import Engine, text

from bench.audit_load import throwaway_database
from bench.audit_verify import APPEND_BATCH_EVENTS, door_event
from storage import Keyring, append_event, current_revision, make_engine, session_scope
from storage.migrate import upgrade_schema

COPIED = (
    "occurred_at, door, source, track_id, decision, reason, person_id, score, threshold, model_id, "
    "event_uid, weights_hash, margin, quality, rule, pad_model_id, pad_weights_hash, pad_score, "
    "pad_threshold, pad_cues, chain_key_id, prev_hash, link_hash"
)


def build(engine: Engine, *, events: int) -> None:
    """A 0012 database of `events` events: one batch appended, the rest copied from it by SQL."""
    upgrade_schema(engine, "0012")
    keyring = Keyring([os.urandom(32)])
    first = min(events, APPEND_BATCH_EVENTS)
    with session_scope(engine) as session:
        for number in range(first):
            append_event(session, keyring, door_event(number))
    with engine.begin() as connection:
        for offset in range(first, events, first):
            connection.execute(
                text(
                    f"INSERT INTO audit_event (sequence, {COPIED}) SELECT sequence + :offset, {COPIED} "
                    "FROM audit_event WHERE sequence <= :last"
                ),
                {"offset": offset, "last": min(first, events - offset)},
            )
        connection.execute(text("UPDATE audit_chain_head SET sequence = :events"), {"events": events})


def main() -> None:
    parser = argparse.ArgumentParser(prog="migration_0013.py", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        engine = make_engine(url)
        started = time.perf_counter()
        build(engine, events=args.events)
        built_s = time.perf_counter() - started
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one()
        load_before = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        upgrade_schema(engine, "0013")
        migrate_s, migrate_cpu_s = time.perf_counter() - started, time.process_time() - cpu
        assert current_revision(engine) == "0013"
        result = {
            "dialect": engine.dialect.name,
            "events": stored,
            "build_s": round(built_s, 2),
            "upgrade_0012_to_0013_s": round(migrate_s, 3),
            "upgrade_client_cpu_s": round(migrate_cpu_s, 3),
            "load_1min_before_after": [load_before, os.getloadavg()[0]],
        }
        engine.dispose()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
