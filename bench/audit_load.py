"""Audit-log load test: N writer processes (gates) append M events each, concurrently, to one database.

Each event carries a unique source tag; afterwards the table is compared with what every writer says it
committed (lost, duplicated, unexpected events, gaps in the sequence) and the hash chain is verified.
PostgreSQL URLs get a throw-away schema that is dropped at the end. Progress goes to stderr; the last
line on stdout is one JSON object. Exit status 1 when anything was lost, duplicated or broken.

    .venv/bin/python bench/audit_load.py --writers 4 --events 500
    .venv/bin/python bench/audit_load.py --database-url sqlite:////tmp/bench.db
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty
from typing import Any

import psycopg

from storage import (
    AuditEventCreate,
    Decision,
    EventFilter,
    StorageSettings,
    append_event,
    create_schema,
    generate_key,
    load_keyring,
    make_engine,
    query_events,
    session_scope,
    verify_chain,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
DOOR = "bench"
PROGRESS_EVERY_EVENTS = 25
PROGRESS_INTERVAL_S = 1.0

logger = logging.getLogger("audit_load")


def _plain_postgres(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def throwaway_database(url: str) -> Iterator[str]:
    """A fresh schema for PostgreSQL URLs (dropped afterwards); other URLs are used as given."""
    if not url.startswith(("postgresql", "postgres:")):
        yield url
        return
    schema = f"fg_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_plain_postgres(url), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_plain_postgres(url), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        logger.info("dropped schema %s", schema)


def writer(url: str, master_key: str, run: str, index: int, events: int, progress: Any, go: Any) -> None:
    """One gate: appends `events` events, one transaction each; reports committed tags and latencies."""
    keyring = load_keyring(StorageSettings(master_key=master_key))
    engine = make_engine(url)
    engine.connect().close()  # connect before the clock starts
    progress.put(("ready", index, None))
    go.wait()
    committed: list[str] = []
    latencies_s: list[float] = []
    errors: list[str] = []
    for number in range(events):
        tag = f"{run}/w{index}/e{number}"
        started = time.perf_counter()
        try:
            with session_scope(engine) as session:
                append_event(session, keyring, _event(tag, number))
        except Exception as exc:  # top of the worker loop (E4): count it, keep writing
            logger.exception("writer %d: event %d failed", index, number)
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            committed.append(tag)
            latencies_s.append(time.perf_counter() - started)
        if (number + 1) % PROGRESS_EVERY_EVENTS == 0:
            progress.put(("progress", index, number + 1))
    engine.dispose()
    progress.put(("done", index, {"committed": committed, "latencies_s": latencies_s, "errors": errors}))


def _event(tag: str, number: int) -> AuditEventCreate:
    granted = number % 3 == 0
    return AuditEventCreate(
        door=DOOR,
        source=tag,
        track_id=number,
        decision=Decision.granted if granted else Decision.denied,
        reason="match" if granted else "unknown",
        person_id=number if granted else None,
        score=0.42,
        threshold=0.363,
        model_id="bench",
    )


def run_writers(
    url: str, *, master_key: str, run: str, writers: int, events: int
) -> tuple[dict[int, Any], float]:
    """Start every writer at once, log progress, and return each writer's report and the wall time."""
    context = mp.get_context("spawn")
    progress, go = context.Queue(), context.Event()
    processes = [
        context.Process(target=writer, args=(url, master_key, run, index, events, progress, go))
        for index in range(writers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        _next_message(progress, processes)
    go.set()
    started = time.perf_counter()
    done: dict[int, Any] = {}
    counts = [0] * writers
    last_log = started
    while len(done) < writers:
        kind, index, value = _next_message(progress, processes)
        if kind == "done":
            done[index] = value
        else:
            counts[index] = value
        now = time.perf_counter()
        if now - last_log >= PROGRESS_INTERVAL_S:
            total = sum(counts)
            logger.info(
                "%d/%d events appended, %.0f events/s", total, writers * events, total / (now - started)
            )
            last_log = now
    elapsed_s = time.perf_counter() - started
    for process in processes:
        process.join()
    return done, elapsed_s


def _next_message(progress: Any, processes: list[Any]) -> tuple[str, int, Any]:
    """The next message from a writer; fails when a writer crashed or all exited without sending it."""
    while True:
        try:
            message: tuple[str, int, Any] = progress.get(timeout=PROGRESS_INTERVAL_S)
            return message
        except Empty:
            crashed = [process.exitcode for process in processes if process.exitcode not in (None, 0)]
            if crashed or not any(process.is_alive() for process in processes):
                raise RuntimeError(f"writers exited without reporting (exit codes {crashed})") from None


def table_sources(url: str) -> Counter[str]:
    """The source tag of every bench event in the table, with its multiplicity."""
    engine = make_engine(url)
    sources: Counter[str] = Counter()
    with session_scope(engine) as session:
        offset = 0
        while True:
            page, total = query_events(session, where=EventFilter(door=DOOR), offset=offset, limit=1000)
            sources.update(event.source for event in page)
            offset += len(page)
            if not page or offset >= total:
                break
    engine.dispose()
    return sources


def chain_report(url: str, master_key: str) -> tuple[bool, str]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        report = verify_chain(session, load_keyring(StorageSettings(master_key=master_key)))
    engine.dispose()
    return report.is_ok, report.summary()


def _percentile_ms(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


def summarise(reports: dict[int, Any], sources: Counter[str]) -> dict[str, Any]:
    """Lost, duplicated and unexpected events, and append latencies."""
    committed = [tag for report in reports.values() for tag in report["committed"]]
    latencies = [latency for report in reports.values() for latency in report["latencies_s"]]
    expected = set(committed)
    return {
        "committed": len(committed),
        "failed": sum(len(report["errors"]) for report in reports.values()),
        "first_errors": [error for report in reports.values() for error in report["errors"]][:3],
        "in_table": sum(sources.values()),
        "lost": sum(1 for tag in expected if sources[tag] == 0),
        "duplicated": sum(count - 1 for tag, count in sources.items() if count > 1),
        "unexpected": sum(count for tag, count in sources.items() if tag not in expected),
        "append_latency_ms_p50": _percentile_ms(latencies, 0.50),
        "append_latency_ms_p99": _percentile_ms(latencies, 0.99),
        "append_latency_ms_mean": round(1000 * statistics.fmean(latencies), 2) if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4, help="Concurrent writer processes (gates).")
    parser.add_argument("--events", type=int, default=250, help="Events each writer appends.")
    parser.add_argument(
        "--database-url", default=DEFAULT_URL, help="Database; PostgreSQL gets a throw-away schema."
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    master_key, run = generate_key(), uuid.uuid4().hex[:8]
    with throwaway_database(args.database_url) as url:
        engine = make_engine(url)
        create_schema(engine)
        engine.dispose()
        logger.info("%d writers × %d events against %s", args.writers, args.events, url.split("@")[-1])
        reports, elapsed_s = run_writers(
            url, master_key=master_key, run=run, writers=args.writers, events=args.events
        )
        sources = table_sources(url)
        is_chain_ok, chain_summary = chain_report(url, master_key)
    result = {
        "database": args.database_url.split("://")[0],
        "writers": args.writers,
        "events_per_writer": args.events,
        "elapsed_s": round(elapsed_s, 3),
        **summarise(reports, sources),
        "is_chain_ok": is_chain_ok,
        "chain": chain_summary,
    }
    result["events_per_s"] = round(result["committed"] / elapsed_s, 1)
    logger.info("%s", chain_summary)
    sys.stdout.write(json.dumps(result) + "\n")
    is_clean = not (result["lost"] or result["duplicated"] or result["unexpected"] or result["failed"])
    return 0 if is_clean and is_chain_ok else 1


if __name__ == "__main__":
    sys.exit(main())
