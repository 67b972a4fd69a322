"""An edge gate's client reads a 503's Retry-After from a real local HTTP server: `²` (str.isdigit() says a
digit, float() refuses it) raised ValueError out of ApiClient.post, so the journal counted an error and logged
a traceback instead of an outage, and the sync loop's catch-all said 'sync failed'; other non-ASCII digits
(`٣`) would be taken as delays, a huge digit string as inf, and an HTTP-date was ignored. Now a value that
is no delay-seconds nor HTTP-date is absent, a delay is at most a day, and a date counts from the answer's
Date (RFC 9110 10.2.3)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gate.api_client import ApiClient
from gate.errors import ServerUnavailable, UpstreamUnavailable
from tests.gate.edge_support import wait_for
from tests.gate.journal_support import delivering_one_event

_SERVER_NOW = "Mon, 07 Dec 2026 05:00:00 GMT"


@contextmanager
def _answering(status: int, headers: dict[str, str]) -> Iterator[str]:
    """A local HTTP server answering every POST with `status`, `headers` and a JSON body; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = b'{"status": "database_unavailable", "detail": "busy"}'
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            return headers.get("Date", _SERVER_NOW)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _retry_after_s(status: int, headers: dict[str, str], *, utc_now: datetime | None = None) -> float | None:
    with _answering(status, headers) as url:
        client = ApiClient(url, api_key="fg_test", utc_now=lambda: utc_now or datetime.now(UTC))
        with pytest.raises(UpstreamUnavailable) as raised:
            client.post("/devices/events", {"events": []}, timeout_s=10.0)
    assert isinstance(raised.value, ServerUnavailable) == (status >= 500)
    return raised.value.retry_after_s


@pytest.mark.parametrize("value", ["²", "³", "1.5", "-3", "5s", "", "soon"])
def test_a_retry_after_that_is_no_delay_seconds_nor_date_is_absent(value: str) -> None:
    for status in (503, 429):
        assert _retry_after_s(status, {"Retry-After": value}) is None, (status, value)


def test_delay_seconds_are_taken_up_to_a_day() -> None:
    assert _retry_after_s(503, {"Retry-After": "5"}) == 5.0
    assert _retry_after_s(503, {"Retry-After": " 007 "}) == 7.0
    assert _retry_after_s(429, {"Retry-After": "86401"}) == 86_400.0
    assert _retry_after_s(503, {"Retry-After": "9" * 5000}) == 86_400.0


def test_an_http_date_counts_from_the_answers_date() -> None:
    later = "Mon, 07 Dec 2026 05:02:00 GMT"
    assert _retry_after_s(503, {"Retry-After": later}) == 120.0  # Date: 05:00:00, whatever this machine says
    past = "Mon, 07 Dec 2026 04:00:00 GMT"
    assert _retry_after_s(503, {"Retry-After": past}) == 0.0
    far = "Fri, 07 Dec 2040 05:00:00 GMT"
    assert _retry_after_s(503, {"Retry-After": far}) == 86_400.0


def test_an_http_date_without_a_date_header_counts_from_this_machines_time() -> None:
    now = datetime(2026, 12, 7, 5, 1, 0, tzinfo=UTC)
    # a server that sends no Date: http.server always sends one, so give it an unparseable one
    headers = {"Retry-After": "Mon, 07 Dec 2026 05:02:00 GMT", "Date": "never"}
    assert _retry_after_s(503, headers, utc_now=now) == 60.0


def test_the_journal_treats_an_unparseable_retry_after_as_an_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It counted an error and logged a traceback (ValueError from the client), not an outage."""
    with caplog.at_level(logging.DEBUG, logger="gate.delivery"):
        with _answering(503, {"Retry-After": "²"}) as url:
            with delivering_one_event(ApiClient(url, api_key="fg_test"), tmp_path) as deliverer:
                wait_for(
                    lambda: any(r.name == "gate.delivery" for r in caplog.records),
                    timeout_s=30.0,
                    what="the journal's first failed delivery",
                )
    assert deliverer.error_count == 0
    first = next(r for r in caplog.records if r.name == "gate.delivery")
    assert first.levelno == logging.WARNING and first.exc_info is None
    assert first.getMessage().startswith("audit log unreachable (/devices/events: the API answered 503 ")
