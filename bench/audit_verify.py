"""Time and peak memory of the audit chain's verification walk on a large log (issue 13, door calibration).

Builds a valid hash chain of N events through `append_event` (transactions of 2,000 events), shaped like a
door in PAD `monitor`: three in four events at door `bench`, two in three granted by match with a PAD score
and the gate's cues JSON. Then, each in a fresh spawned process so that its peak RSS is its own, it runs:
  - `verify`: `verify_chain` alone (`facegate audit verify`);
  - `verified`: `verified_events(where=EventFilter(door="bench", decision=granted))`, the read
    `pad calibrate-door` makes;
  - `verified-since`: the same from a checkpoint signed half-way (`--since-checkpoint`);
  - `monitor-scores`, `monitor-scores-since`: `gate.monitor_scores`, calibrate-door's whole read (the
    verified events turned into the scores it calibrates from), without and with the checkpoint.
Each reports wall and CPU seconds, events per second, the process's RSS before the call and its peak
(VmHWM) after, and the 1-minute load average before and after. PostgreSQL URLs get a throw-away schema;
SQLite URLs are used as given (an existing log there is measured as it is, with `--reuse`). The last line
on stdout is one JSON object.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/audit_verify.py --events 100000 \
        --database-url sqlite:////tmp/audit-verify.db
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

from bench.audit_load import throwaway_database
from gate import monitor_scores
from storage import (
    AuditEventCreate,
    ChainReport,
    Checkpoint,
    Cipher,
    Decision,
    Engine,
    EventFilter,
    StorageSettings,
    append_event,
    count_events,
    create_schema,
    export_checkpoint,
    generate_key,
    load_keyring,
    make_engine,
    session_scope,
    verified_events,
    verify_chain,
)

DOOR = "bench"
APPEND_BATCH_EVENTS = 2000
START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
WEIGHTS = "ab" * 32
MODES = ("verify", "verified", "verified-since", "monitor-scores", "monitor-scores-since")

logger = logging.getLogger("audit_verify")


def door_event(number: int) -> AuditEventCreate:
    """Event `number`: 3 in 4 at the bench door, 2 in 3 granted by match with monitor PAD evidence."""
    granted = number % 3 != 0
    score = (number * 7919 % 10007) / 10007
    cues = {
        "policy": "monitor",
        "basis": "BPCER 0.01 on LFW filled",
        "colour": "grey" if number % 5 == 0 else "colour",
        "frames": 3,
        "frames_too_close": 0,
        "verdict": "attack" if score > 0.9 else "bona_fide",
        "passive": round(score, 4),
        "moire": round(score / 3, 4),
        "glare": round(score / 5, 4),
        "planar_motion": round(1 - score, 4),
    }
    return AuditEventCreate(
        door=DOOR if number % 4 else "other",
        source=f"rtsp://cam-{number % 3}/stream",
        track_id=number,
        decision=Decision.granted if granted else Decision.denied,
        reason="match" if granted else "unknown",
        person_id=number % 500 if granted else None,
        score=0.4 + score / 2,
        threshold=0.363,
        model_id="sface-int8",
        occurred_at=START + timedelta(seconds=number),
        pad_model_id="minifasnet-pair",
        pad_weights_hash=WEIGHTS,
        pad_score=score,
        pad_threshold=0.844,
        pad_cues=json.dumps(cues, sort_keys=True, separators=(",", ":")),
    )


def build(url: str, master_key: str, *, events: int) -> tuple[Checkpoint, float]:
    """N events in transactions of APPEND_BATCH_EVENTS, and a checkpoint signed after the first half."""
    keyring = load_keyring(StorageSettings(master_key=master_key))
    engine = make_engine(url)
    create_schema(engine)
    started, cpu = time.perf_counter(), time.process_time()
    checkpoint: Checkpoint | None = None
    for first in range(0, events, APPEND_BATCH_EVENTS):
        with session_scope(engine) as session:
            for number in range(first, min(events, first + APPEND_BATCH_EVENTS)):
                append_event(session, keyring, door_event(number))
        if checkpoint is None and first + APPEND_BATCH_EVENTS >= events // 2:
            with session_scope(engine) as session:
                checkpoint = export_checkpoint(session, keyring, now=datetime.now(UTC))
        logger.info("%d/%d events appended", min(events, first + APPEND_BATCH_EVENTS), events)
    engine.dispose()
    assert checkpoint is not None
    logger.info("built in %.1f CPU-seconds", time.process_time() - cpu)
    return checkpoint, time.perf_counter() - started


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _run(
    mode: str, engine: Engine, keyring: Cipher, checkpoint: Checkpoint | None
) -> tuple[ChainReport, int]:
    """The mode's read: its verification report and how many events (or scores) it returned (-1: none)."""
    if mode.startswith("monitor-scores"):
        scores, _, report = monitor_scores(
            engine, keyring=keyring, door=DOOR, since=None, until=None, checkpoint=checkpoint
        )
        return report, len(scores)
    with session_scope(engine) as session:
        if mode == "verify":
            return verify_chain(session, keyring), -1
        granted = EventFilter(door=DOOR, decision=Decision.granted)
        events, report = verified_events(session, keyring, where=granted, checkpoint=checkpoint)
        return report, len(events)


def measure(url: str, master_key: str, mode: str, checkpoint_json: str, results: Any) -> None:
    """One mode in this (fresh) process: timings, RSS before and peak after, load before and after."""
    keyring = load_keyring(StorageSettings(master_key=master_key))
    checkpoint = Checkpoint.model_validate_json(checkpoint_json)
    engine = make_engine(url)
    engine.connect().close()
    rss_before_kib, load_before = _status_kib("VmRSS"), os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    report, found = _run(mode, engine, keyring, checkpoint if mode.endswith("-since") else None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.dispose()
    results.put(
        {
            "mode": mode,
            "is_ok": report.is_ok,
            "events_checked": report.events_checked,
            "events_returned": found,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "events_per_cpu_s": round(report.events_checked / cpu) if cpu else None,
            "rss_before_mib": round(rss_before_kib / 1024, 1),
            "peak_rss_mib": round(_status_kib("VmHWM") / 1024, 1),
            "load_1min_before": round(load_before, 2),
            "load_1min_after": round(os.getloadavg()[0], 2),
        }
    )


def run_mode(url: str, master_key: str, mode: str, checkpoint: Checkpoint) -> dict[str, Any]:
    context = mp.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=measure, args=(url, master_key, mode, checkpoint.to_json(), results))
    process.start()
    result: dict[str, Any] = results.get()
    process.join()
    logger.info("%s", result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="Events in the log.")
    parser.add_argument("--database-url", required=True, help="PostgreSQL gets a throw-away schema.")
    parser.add_argument("--modes", default=",".join(MODES), help=f"Comma-separated, of {', '.join(MODES)}.")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="STATE",
        help="JSON file with the master key and checkpoint of a log built before (SQLite): written after "
        "a build, read instead of building when it exists.",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    result: dict[str, Any] = {
        "database": args.database_url.split("://")[0],
        "load_1min_start": os.getloadavg()[0],
    }
    with throwaway_database(args.database_url) as url:
        if args.reuse is not None and args.reuse.exists():
            state = json.loads(args.reuse.read_text())
            master_key, checkpoint = state["master_key"], Checkpoint.model_validate(state["checkpoint"])
        else:
            master_key = generate_key()
            checkpoint, build_s = build(url, master_key, events=args.events)
            result["build_wall_s"] = round(build_s, 1)
            if args.reuse is not None:
                state = {"master_key": master_key, "checkpoint": json.loads(checkpoint.to_json())}
                args.reuse.write_text(json.dumps(state))
        engine = make_engine(url)
        with session_scope(engine) as session:
            result["events"] = count_events(session)
        engine.dispose()
        result["checkpoint_sequence"] = checkpoint.sequence
        result["runs"] = [run_mode(url, master_key, mode, checkpoint) for mode in args.modes.split(",")]
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if all(run["is_ok"] for run in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
