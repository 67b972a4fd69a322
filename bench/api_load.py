"""Load check of the HTTP API: N concurrent clients on /identify and on event queries for D seconds.

Serves the real app with `uvicorn --workers 2` (built per worker by bench/api_load_app.py, as
`facegate serve` composes it) on one PostgreSQL schema holding a small gallery (people enrolled from the
group photo in insightface's wheel) and a filled audit log, then runs N client threads: each loops
over POST /identify (a device key, a real photo) and GET /events (an auditor key, first page and a
keyset page). Prints p50/p95 latency and the error count per route; the last line is JSON.

    .venv/bin/python bench/api_load.py --clients 8 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import httpx2 as httpx

from bench.audit_load import throwaway_database
from bench.events_export import _fill
from enrollment import EnrollmentRejected, EnrollmentSettings, Photo, enroll_new_person
from recognition import RecognitionSettings, Recognizer, build_recognizer
from storage import (
    Cipher,
    Engine,
    Role,
    StorageSettings,
    bind_device_doors,
    create_api_key,
    generate_key,
    load_keyring,
    make_engine,
    session_scope,
)
from tests.data import face_crops_from_group

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _prepare(url: str, master_key: str, events: int) -> tuple[dict[str, str], bytes]:
    """Fill the log, enroll the group's people; returns keys by role and a probe photo."""
    _fill(url, events)
    engine = make_engine(url)
    faces = enroll_group(engine, master_key)
    tokens = api_keys(engine, (Role.device, Role.auditor), label="load")
    engine.dispose()
    return tokens, faces[1]


def enroll_group(engine: Engine, master_key: str) -> list[bytes]:
    """The face crops of the group photo in insightface's wheel, all but the first enrolled (enroll_each)
    under a keyring from `master_key`; the models are cached under $TMPDIR/facegate-load-models."""
    cache = Path(os.environ.get("TMPDIR", "/tmp")) / "facegate-load-models"
    recognizer = build_recognizer(RecognitionSettings(), cache_dir=cache)
    faces = face_crops_from_group(recognizer)
    enroll_each(engine, load_keyring(StorageSettings(master_key=master_key)), recognizer, faces[1:])
    return faces


BENCH_DOOR = "bench door"
"""The door a bench's device key serves: it has no rules, so it admits everyone and the key's /identify
searches the whole gallery (a device key serving no door searches nobody)."""


def api_keys(engine: Engine, roles: Iterable[Role], *, label: str) -> dict[str, str]:
    """A new API key for each of `roles`; the tokens by role name. A device key serves BENCH_DOOR."""
    tokens = {}
    with session_scope(engine) as session:
        for role in roles:
            token, key = create_api_key(session, role=role, label=label, now=datetime.now(UTC))
            if role == Role.device:
                bind_device_doors(session, key_id=key.token_id, doors=[BENCH_DOOR], create_doors=True)
            tokens[role.value] = token
    return tokens


def enroll_each(engine: Engine, keyring: Cipher, recognizer: Recognizer, faces: Sequence[bytes]) -> None:
    """Enroll each face crop as a person of its own ("bench N"); one the models refuse (the group photo's
    face turned too far) is left out with a line on stderr."""
    for index, face in enumerate(faces):
        try:
            with session_scope(engine) as session:
                enroll_new_person(
                    session,
                    keyring,
                    recognizer,
                    name=f"bench {index}",
                    photos=[Photo(name=f"{index}.jpg", data=face)],
                    settings=EnrollmentSettings(),
                )
        except EnrollmentRejected as exc:
            sys.stderr.write(f"not enrolled: {exc}\n")


@contextmanager
def serve(url: str, master_key: str, *, workers: int) -> Iterator[str]:
    """The app under uvicorn with `workers` processes on the database at `url`; yields its base URL once
    it is ready and stops it on exit."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    env = {**os.environ, "FACEGATE_DATABASE_URL": url, "FACEGATE_MASTER_KEY": master_key}
    env["PYTHONPATH"] = str(REPO_ROOT)
    # bench/ must not be on the server's path: bench/gate.py would shadow the gate package.
    command = [sys.executable, "-m", "uvicorn", "--factory", "bench.api_load_app:build"]
    command += ["--app-dir", str(REPO_ROOT), "--workers", str(workers)]
    command += ["--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break  # the database answers and the gallery is loaded (503 until then)
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=60)


def _client(
    base: str,
    tokens: dict[str, str],
    probe: bytes,
    stop: threading.Event,
    out: dict[str, list[tuple[float, int]]],
) -> None:
    device = {"Authorization": f"Bearer {tokens['device']}"}
    auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
    with httpx.Client(base_url=base, timeout=60) as client:
        turn = 0
        while not stop.is_set():
            turn += 1
            started = time.perf_counter()
            route = "identify" if turn % 2 else "events"
            try:
                if route == "identify":
                    files = {"photo": ("probe.jpg", probe, "image/jpeg")}
                    status = client.post("/identify", files=files, headers=device).status_code
                else:
                    params: dict[str, Any] = {"limit": 50, "with_total": "false"}
                    if turn % 4 == 0:
                        params["before_sequence"] = 500
                    status = client.get("/events", params=params, headers=auditor).status_code
            except httpx.TransportError:
                status = 0
            out[route].append(((time.perf_counter() - started) * 1000, status))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--events", type=int, default=100_000, help="Audit events in the log.")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    master_key = generate_key()
    with throwaway_database(args.database_url) as url:
        tokens, probe = _prepare(url, master_key, args.events)
        with serve(url, master_key, workers=args.workers) as base:
            results: dict[str, list[tuple[float, int]]] = {"identify": [], "events": []}
            stop = threading.Event()
            threads = [
                threading.Thread(target=_client, args=(base, tokens, probe, stop, results))
                for _ in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            time.sleep(args.seconds)
            stop.set()
            for thread in threads:
                thread.join()
    summary = {}
    for route, samples in results.items():
        latencies = sorted(ms for ms, _ in samples)
        summary[route] = {
            "requests": len(samples),
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
            "errors": sum(1 for _, status in samples if status != 200),
            "statuses": dict(Counter(status for _, status in samples)),
        }
    result = {"clients": args.clients, "seconds": args.seconds, "workers": args.workers, "routes": summary}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
