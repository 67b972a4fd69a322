"""Enrollment → edge gate propagation across two API servers, under PostgreSQL LISTEN/NOTIFY and polling.

On the local PostgreSQL (a fresh schema), two `facegate serve` processes share the database; one edge
gate (`python -m gate`, only a device key and an API address) long-polls server B. Each of N people
(distinct LFW identities) is created and admitted to the door's group through server A, then enrolled
through server A with one photo; the latency is from sending the enrollment to the moment the person
appears in the gate's sealed gallery cache (opened with the device's private key); `after_request`
counts from the enrollment's HTTP answer (the commit) instead. Run once with the
servers' gallery feed on `listen` (NOTIFY wakes waiting syncs) and once on `poll` (the version is
re-read every FACEGATE_API_GALLERY_FEED_POLL_S, default 1 s). Progress goes to stderr; the last stdout
line is one JSON object.

    .venv/bin/python -m bench.edge_sync --count 50     # from the repository root (uses tests/ helpers)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import numpy as np
import psycopg

from recognition import RecognitionSettings
from storage import Role, bind_device_doors, create_api_key, create_schema, make_engine, session_scope
from tests.gate.edge_support import ApiServer, start_api_server, start_edge_gate, wait_for
from tests.gate.mjpeg import MjpegCamera

DOOR = "lab"
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def fresh_schema(base_url: str) -> tuple[str, str]:
    schema = f"fg_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{separator}options=-csearch_path%3D{schema}"


def photos(data_dir: Path, count: int) -> list[tuple[str, bytes]]:
    """One photo each of the first `count` × 2 LFW people by name (spares for refused photos)."""
    lfw = data_dir / "faces" / "lfw" / "lfw-deepfunneled"
    people = sorted(d for d in lfw.iterdir() if d.is_dir())[: count * 2]
    return [(d.name, sorted(d.glob("*.jpg"))[0].read_bytes()) for d in people]


def measure(
    front: ApiServer,
    gate_held: Callable[[], set[int]],
    admin: str,
    group: int,
    candidates: list[tuple[str, bytes]],
    count: int,
) -> tuple[list[float], list[float]]:
    """Seconds from sending each enrollment, and from its answer, to the person at the gate."""
    latencies: list[float] = []
    after_request: list[float] = []
    for name, photo in candidates:
        if len(latencies) == count:
            break
        person: int = front.request("POST", "/people", admin, {"name": name})["id"]
        front.request("PUT", f"/access/groups/{group}/members/{person}", admin)
        started_s = time.monotonic()
        try:
            front.request("POST", f"/people/{person}/faces", admin, files=[(f"{name}.jpg", photo)])
        except AssertionError:
            front.request("DELETE", f"/people/{person}", admin)
            continue  # a photo the enrollment refuses (pose, size): take the next person
        answered_s = time.monotonic()

        def is_held(person_id: int = person) -> bool:
            return person_id in gate_held()

        wait_for(is_held, timeout_s=60, what=f"person {person} at the gate", step_s=0.005)
        latencies.append(time.monotonic() - started_s)
        after_request.append(time.monotonic() - answered_s)
        log(f"  {len(latencies):3d}: {latencies[-1] * 1000:.0f} ms ({after_request[-1] * 1000:.0f} ms after)")
    return latencies, after_request


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "median_s": round(statistics.median(values), 3),
        "p95_s": round(ordered[max(0, int(round(0.95 * len(ordered))) - 1)], 3),
        "max_s": round(ordered[-1], 3),
    }


def run_mode(
    mode: str, *, base_url: str, count: int, long_poll_s: float, candidates: list[tuple[str, bytes]]
) -> dict[str, object]:
    schema, url = fresh_schema(base_url)
    engine = make_engine(url)
    create_schema(engine)
    with session_scope(engine) as session:
        now = datetime.now(UTC)
        admin = create_api_key(session, role=Role.admin, label="bench admin", now=now)[0]
        token = create_api_key(session, role=Role.device, label="bench gate", now=now)[0]
        bind_device_doors(session, key_id=token.split("_")[1], doors=[DOOR], create_doors=True)
    master_key = secrets.token_bytes(32)
    blank = np.full((480, 640, 3), 96, dtype=np.uint8)
    camera = MjpegCamera([blank], interval_s=0.1)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        servers = [
            start_api_server(tmp, name, database_url=url, master_key=master_key, feed=mode)
            for name in ("api-a", "api-b")
        ]
        front, back = servers
        group = front.request("POST", "/access/groups", admin, {"name": "lab staff"})["id"]
        rule = {"door": DOOR, "group_id": group, "weekdays": EVERY_DAY, "start": "00:00", "end": "24:00"}
        front.request("POST", "/access/rules", admin, rule)
        gate = start_edge_gate(
            tmp, "gate", api_url=back.url, token=token, door=DOOR, source=camera.url, long_poll_s=long_poll_s
        )
        try:
            wait_for(lambda: gate.held() is not None, timeout_s=120, what="the gate's first sync")
            log(f"{mode}: enrolling {count} people through server A, gate long-polling server B")
            latencies, after_request = measure(front, gate.held_people, admin, group, candidates, count)
        finally:
            gate.process.terminate()
            gate.process.wait(timeout=60)
            camera.stop()
            for server in servers:
                server.stop()
            engine.dispose()
            with psycopg.connect(base_url, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return {"from_request": summary(latencies), "after_request": summary(after_request)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="Enrollments per mode.")
    parser.add_argument("--long-poll-s", type=float, default=20.0, help="The gate's sync long poll.")
    parser.add_argument("--modes", default="listen,poll", help="Gallery feed modes of the API servers.")
    args = parser.parse_args()
    base_url = os.environ.get("FACEGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    candidates = photos(RecognitionSettings().data_dir, args.count)
    results = {
        mode: run_mode(
            mode, base_url=base_url, count=args.count, long_poll_s=args.long_poll_s, candidates=candidates
        )
        for mode in args.modes.split(",")
    }
    sys.stdout.write(json.dumps({"enrollment_to_edge_gate": results, "long_poll_s": args.long_poll_s}) + "\n")


if __name__ == "__main__":
    main()
