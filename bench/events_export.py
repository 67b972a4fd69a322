"""Events page and CSV export on a large audit log in PostgreSQL, through a real `uvicorn` server.

Fills a throw-away schema with N events spread over 30 days (8 doors, every fifth denied) by one
server-side INSERT ... SELECT generate_series (the rows are not a valid hash chain: nothing here
verifies it), then serves the real app (create_app, default models) under uvicorn in a child process
and measures over HTTP, with an auditor key:
  - the first page of /events (newest 50) with and without the total count, unfiltered, for one door,
    for one door's denials of one day, and a page half-way down through the keyset cursor;
  - the CSV export of everything, and of one door's denials: rows/s, and the server's resident memory
    (VmRSS before, VmHWM = peak after) read from /proc;
  - the web console's Events page (signed in with the auditor key): the first page with its total,
    one door's denials of one day, and the rows fragment its live refresh fetches every 3 s.
The last line on stdout is one JSON object.

    .venv/bin/python bench/events_export.py --events 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import httpx2 as httpx

from bench.audit_load import throwaway_database
from storage import Role, create_api_key, create_schema, make_engine, session_scope

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
END = datetime(2026, 12, 1, tzinfo=UTC)
SPAN = timedelta(days=30)
DOORS = 8
PAGE_REPEATS = 7

FILL_SQL = f"""
INSERT INTO audit_event (sequence, occurred_at, door, source, track_id, decision, reason, person_id,
                         score, threshold, model_id, chain_key_id, prev_hash, link_hash)
SELECT g,
       %(start)s::timestamptz + (g * %(step_s)s) * interval '1 second',
       'door-' || (g %% {DOORS}),
       'rtsp://cam-' || (g %% {DOORS}) || '/stream',
       g,
       (CASE WHEN g %% 5 = 0 THEN 'denied' ELSE 'granted' END)::decision,
       CASE WHEN g %% 5 = 0 THEN 'unknown_face' ELSE 'match' END,
       CASE WHEN g %% 5 = 0 THEN NULL ELSE g %% 5000 END,
       0.2 + (g %% 70) / 100.0,
       0.363,
       'sface-int8',
       'bench',
       md5(g::text) || md5((g + 1)::text),
       md5((g + 2)::text) || md5((g + 3)::text)
FROM generate_series(1, %(events)s) AS g
"""

SERVER = """
import sys, uvicorn
from api.app import create_app
from api.services import AppServices
from enrollment import EnrollmentSettings
from recognition import RecognitionSettings, build_recognizer
from storage import Keyring, make_engine
import pathlib, secrets, tempfile
url, port = sys.argv[1], int(sys.argv[2])
recognizer = build_recognizer(RecognitionSettings(), cache_dir=pathlib.Path(tempfile.mkdtemp()))
keyring = Keyring([secrets.token_bytes(32)])
services = AppServices(engine=make_engine(url), keyring=keyring, recognizer=recognizer,
                       enrollment=EnrollmentSettings())
uvicorn.run(create_app(services), host="127.0.0.1", port=port, log_level="warning")
"""


def _fill(url: str, events: int) -> float:
    engine = make_engine(url)
    create_schema(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        step_s = SPAN.total_seconds() / events
        raw.execute(FILL_SQL, {"start": END - SPAN, "step_s": step_s, "events": events})
        raw.execute("UPDATE audit_chain_head SET sequence = %(n)s", {"n": events})
        raw.execute("ANALYZE audit_event")
    with session_scope(engine) as session:
        token, _ = create_api_key(session, role=Role.auditor, label="bench", now=datetime.now(UTC))
    engine.dispose()
    os.environ["BENCH_TOKEN"] = token
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _wait_ready(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready")


def _first_page_ms(client: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    timings, body = [], {}
    for _ in range(PAGE_REPEATS):
        started = time.perf_counter()
        response = client.get("/events", params=params)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        body = response.json()
    return {
        "params": params,
        "median_ms": round(statistics.median(timings), 1),
        "max_ms": round(max(timings), 1),
        "total": body["total"],
        "next_before_sequence": body["next_before_sequence"],
        "items": len(body["items"]),
    }


def _console_sign_in(client: httpx.Client, token: str) -> None:
    """Sign in to the console through its form (session cookie, CSRF token)."""
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None, "no CSRF token on the sign-in form"
    signed_in = client.post("/ui/login", data={"api_key": token, "csrf_token": csrf[1]})
    assert signed_in.status_code == 303, f"console sign-in failed: {signed_in.status_code}"


def _console_page_ms(client: httpx.Client, path: str, params: dict[str, Any]) -> dict[str, Any]:
    timings, rows = [], 0
    for _ in range(PAGE_REPEATS):
        started = time.perf_counter()
        response = client.get(path, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        rows = response.text.count("<tr class=")
    return {
        "path": path,
        "params": params,
        "median_ms": round(statistics.median(timings), 1),
        "max_ms": round(max(timings), 1),
        "rows": rows,
    }


def _export(client: httpx.Client, pid: int, params: dict[str, Any]) -> dict[str, Any]:
    before = _memory_kb(pid)
    rows, size_bytes = -1, 0  # the header is not a row
    started = time.perf_counter()
    with client.stream("GET", "/events/export.csv", params=params) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            rows += 1
            size_bytes += len(line) + 1
    elapsed_s = time.perf_counter() - started
    after = _memory_kb(pid)
    return {
        "params": params,
        "rows": rows,
        "mb": round(size_bytes / 1e6, 1),
        "seconds": round(elapsed_s, 1),
        "rows_per_s": round(rows / elapsed_s),
        "server_rss_before_mb": round(before["VmRSS"] / 1024, 1),
        "server_peak_rss_mb": round(after["VmHWM"] / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="Events to fill the log with.")
    parser.add_argument(
        "--database-url", default=DEFAULT_URL, help="PostgreSQL URL (a schema is made in it)."
    )
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        fill_s = _fill(url, args.events)
        sys.stderr.write(f"filled {args.events} events in {fill_s:.1f} s\n")
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)])
        headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=600) as client:
                _wait_ready(client, server)
                day = (END - timedelta(days=1)).isoformat()
                pages = [
                    _first_page_ms(client, {"limit": 50}),
                    _first_page_ms(client, {"limit": 50, "with_total": "false"}),
                    _first_page_ms(client, {"limit": 50, "door": "door-3"}),
                    _first_page_ms(client, {"limit": 50, "door": "door-3", "with_total": "false"}),
                    _first_page_ms(
                        client, {"limit": 50, "door": "door-3", "decision": "denied", "since": day}
                    ),
                    _first_page_ms(
                        client, {"limit": 50, "before_sequence": args.events // 2, "with_total": "false"}
                    ),
                ]
                exports = [
                    _export(client, server.pid, {"door": "door-3", "decision": "denied"}),
                    _export(client, server.pid, {}),
                ]
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as console:
                _console_sign_in(console, os.environ["BENCH_TOKEN"])
                one_day = {"door": "door-3", "decision": "denied", "from_day": day[:10], "to_day": day[:10]}
                console_pages = [
                    _console_page_ms(console, "/ui/events", {}),
                    _console_page_ms(console, "/ui/events", one_day),
                    _console_page_ms(console, "/ui/events/rows", {}),
                ]
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "events": args.events,
        "fill_s": round(fill_s, 1),
        "first_pages": pages,
        "exports": exports,
        "console_pages": console_pages,
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
