"""/identify latency in one API process while an enrollment's database write is stalled (PostgreSQL).

Serves the real app (bench/api_load_app.py, as `facegate serve` composes it) with one uvicorn worker on
a throw-away PostgreSQL schema holding a few people enrolled from the group photo in insightface's
wheel. One device client loops over POST /identify the whole run. First a quiet phase; then each round
another connection holds the gallery version row for --stall-s seconds while an admin client enrolls
one more photo, whose write waits for the row (seen in pg_stat_activity). Prints the identify latencies
of the quiet phase and of the requests open during a stall, and the enrollments' answers, as JSON.

    .venv/bin/python bench/api_stall.py --stall-s 5 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import httpx2 as httpx
import psycopg

from bench.api_load import api_keys, enroll_group, serve
from bench.audit_load import throwaway_database
from storage import (
    Engine,
    Role,
    create_person,
    create_schema,
    generate_key,
    lock_gallery_version,
    make_engine,
    session_scope,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
WAITING_SQL = "SELECT count(*) FROM pg_stat_activity WHERE %(holder)s = ANY(pg_blocking_pids(pid))"

Sample = tuple[float, float, int]  # started (monotonic s), latency ms, HTTP status


def _prepare(engine: Engine, master_key: str, rounds: int) -> tuple[dict[str, str], list[int], bytes]:
    """Enroll the group's other people (one turned too far is left out); returns keys by role, the
    people to enroll while stalled (none enrolled yet) and the photo to enroll them with."""
    faces = enroll_group(engine, master_key)
    tokens = api_keys(engine, (Role.admin, Role.device), label="stall")
    with session_scope(engine) as session:
        people = [create_person(session, name=f"stalled {index}").id or 0 for index in range(rounds)]
    return tokens, people, faces[0]


def _identify_loop(base: str, token: str, probe: bytes, stop: threading.Event, out: list[Sample]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=120) as client:
        while not stop.is_set():
            started = time.monotonic()
            files = {"photo": ("probe.jpg", probe, "image/jpeg")}
            status = client.post("/identify", files=files, headers=headers).status_code
            out.append((started, (time.monotonic() - started) * 1000, status))


def _stalled_enrollment(
    base: str, engine: Engine, *, token: str, person_id: int, photo: bytes, stall_s: float, watch_url: str
) -> tuple[float, float, int]:
    """Enroll `photo` while another connection holds the gallery version row for `stall_s` after the
    enrollment starts waiting for it; returns (stall start, stall end) monotonic s and the status."""
    answer: list[int] = []
    files = [("photos", ("stalled.jpg", photo, "image/jpeg"))]
    headers = {"Authorization": f"Bearer {token}"}

    def enroll() -> None:
        url = f"{base}/people/{person_id}/faces"
        answer.append(httpx.post(url, files=files, headers=headers, timeout=120).status_code)

    with session_scope(engine) as holder:
        lock_gallery_version(holder)
        holder_pid = holder.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        enrolling = threading.Thread(target=enroll)
        enrolling.start()
        with psycopg.connect(watch_url, autocommit=True) as watcher:
            while watcher.execute(WAITING_SQL, {"holder": holder_pid}).fetchone() == (0,):
                time.sleep(0.02)
        stall_start = time.monotonic()
        time.sleep(stall_s)
        stall_end = time.monotonic()
    enrolling.join()
    return stall_start, stall_end, answer[0]


def _overlaps(sample: Sample, start: float, end: float) -> bool:
    """Whether the request was open at some moment of [start, end)."""
    started, ms, _ = sample
    return started < end and started + ms / 1000 > start


def _summary(samples: list[Sample]) -> dict[str, object]:
    latencies = sorted(ms for _, ms, _ in samples)
    return {
        "requests": len(samples),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "errors": sum(1 for *_, status in samples if status != 200),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stall-s", type=float, default=5.0, help="How long each enrollment's write waits.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="A PostgreSQL URL.")
    args = parser.parse_args()
    master_key = generate_key()
    samples: list[Sample] = []
    stalls: list[tuple[float, float, int]] = []
    with throwaway_database(args.database_url) as url:
        engine = make_engine(url)
        create_schema(engine)
        tokens, people, photo = _prepare(engine, master_key, args.rounds)
        with serve(url, master_key, workers=1) as base:  # one recognizer lock
            stop = threading.Event()
            loop = threading.Thread(
                target=_identify_loop, args=(base, tokens["device"], photo, stop, samples)
            )
            quiet_start = time.monotonic()
            loop.start()
            time.sleep(args.stall_s)
            quiet_end = time.monotonic()
            for person_id in people:
                stall = _stalled_enrollment(
                    base,
                    engine,
                    token=tokens["admin"],
                    person_id=person_id,
                    photo=photo,
                    stall_s=args.stall_s,
                    watch_url=args.database_url,
                )
                stalls.append(stall)
                time.sleep(1.0)
            stop.set()
            loop.join()
        engine.dispose()
    quiet = [s for s in samples if quiet_start + 1.0 <= s[0] < quiet_end]  # the first second warms up
    stalled = [s for s in samples if any(_overlaps(s, start, end) for start, end, _ in stalls)]
    result = {
        "stall_s": args.stall_s,
        "rounds": args.rounds,
        "quiet": _summary(quiet),
        "during_stalls": _summary(stalled),
        "enrollments": [status for *_, status in stalls],
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
