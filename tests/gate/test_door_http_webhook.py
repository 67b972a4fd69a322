"""HttpWebhookDoor against a real local HTTP server (http.server in a thread) that records every request."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from gate import ActuatorError, DoorUnconfirmed, HttpWebhookDoor

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PROXY_UPSTREAM_TIMEOUT_S = 0.3  # the proxy's wait for the controller (nginx: proxy_read_timeout)
UNLOCK_ID = "0b5c1f6e-8a3d-4c2b-9f1e-2d7a6c4b3e10"


@dataclass
class Received:
    """One request the webhook server got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookServer:
    """What the test controls (the status to answer, whether to stall) and what the server recorded."""

    url: str
    status: int = 204
    is_stalled: bool = False
    is_cut: bool = False
    """Read the request, then close the connection with no answer (a controller that crashes on it)."""
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[Received] = field(default_factory=list)


def _handler(state_box: list[WebhookServer]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            state = state_box[0]
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
            if state.is_cut:
                self.close_connection = True
                return
            if state.is_stalled:
                state.release.wait(10.0)
            try:
                self.send_response(state.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
            return

    return Handler


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    box: list[WebhookServer] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    box.append(WebhookServer(url=f"http://127.0.0.1:{server.server_address[1]}/doors/front/unlock"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        box[0].release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def _door(url: str, *, token: str | None = None, timeout_s: float = 2.0) -> HttpWebhookDoor:
    return HttpWebhookDoor(
        url=url,
        timeout_s=timeout_s,
        token=None if token is None else SecretStr(token),
        utc_now=lambda: AT,
    )


def test_an_unlock_posts_the_json_body(webhook: WebhookServer) -> None:
    _door(webhook.url).unlock(door="front", duration_s=4.0, unlock_id=UNLOCK_ID)

    [request] = webhook.requests
    assert (request.method, request.path) == ("POST", "/doors/front/unlock")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == UNLOCK_ID  # a controller drops a second delivery by it
    assert "Authorization" not in request.headers
    assert json.loads(request.body) == {
        "door": "front",
        "action": "unlock",
        "duration_s": 4.0,
        "at": "2026-01-02T03:04:05+00:00",
        "unlock_id": UNLOCK_ID,
    }


def test_the_token_is_sent_as_a_bearer_authorization_header(webhook: WebhookServer) -> None:
    _door(webhook.url, token="s3cret-token").unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    assert webhook.requests[0].headers["Authorization"] == "Bearer s3cret-token"


@pytest.mark.parametrize("status", [500, 404, 302])
def test_an_answer_other_than_2xx_is_an_actuator_error(webhook: WebhookServer, status: int) -> None:
    webhook.status = status
    with pytest.raises(ActuatorError, match=f"webhook of door front answered HTTP {status}") as failure:
        _door(webhook.url).unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    assert len(webhook.requests) == 1
    assert type(failure.value) is ActuatorError  # the controller said no: a certain failure


def test_a_webhook_that_acts_and_answers_after_the_timeout_is_door_unconfirmed(
    webhook: WebhookServer,
) -> None:
    """The webhook got the request (and may have opened the door) but answered late: that was the same
    ActuatorError as a webhook never reached, audited as a certain denial (door_error)."""
    webhook.is_stalled = True
    with pytest.raises(DoorUnconfirmed, match="webhook of door front"):
        _door(webhook.url, timeout_s=0.2).unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    assert len(webhook.requests) == 1


def test_an_unreachable_webhook_is_an_actuator_error() -> None:
    with pytest.raises(ActuatorError, match="webhook of door front unreachable") as failure:
        _door("http://127.0.0.1:1/unlock").unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    assert type(failure.value) is ActuatorError  # nothing was sent: not DoorUnconfirmed


def _one_answer_server(answer: bytes) -> tuple[str, threading.Thread]:
    """A TCP server that reads one request (to its JSON body's end) and sends `answer`, whatever it is."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener, listener.accept()[0] as connection:
            request = b""
            while not request.endswith(b"}"):
                request += connection.recv(65536)
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/unlock", thread


@pytest.mark.parametrize(
    "answer",
    [b'INFO {"server_id":"NATS"}\r\n', b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 200 OK\r\n" + b"X" * 70000],
)
def test_an_answer_that_is_not_http_is_an_actuator_error(answer: bytes) -> None:
    """A URL that names a port of another protocol (NATS' banner, SSH's) answered a status line http.client
    cannot read: its BadStatusLine (or LineTooLong) is no OSError and left unlock() untranslated, so the gate
    loop died on a grant without auditing it. The request was sent, so the door may have opened: it is
    DoorUnconfirmed, audited as door_unconfirmed."""
    url, server = _one_answer_server(answer)
    with pytest.raises(DoorUnconfirmed, match=re.escape("webhook of door front gave no valid HTTP answer (")):
        _door(url).unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    server.join(timeout=10.0)


def test_a_webhook_that_answers_a_byte_at_a_time_is_given_up_after_the_timeout() -> None:
    """Each header line comes well within the socket timeout, the whole answer long after it: a socket timeout
    bounds each read only, so unlock() waited the 10 s of dribble and reported the door open, holding the
    gate loop that long. It now gives up after timeout_s, as it says."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        with listener, listener.accept()[0] as connection:
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(40):  # 10 s, or until the test ends
                    if done.wait(0.25):
                        return
                    connection.sendall(b"X-Slow: 1\r\n")
                connection.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:  # the client gave up and closed
                return

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        with pytest.raises(
            DoorUnconfirmed, match=re.escape("webhook of door front gave no complete answer within 0.5 s")
        ):
            _door(f"http://127.0.0.1:{listener.getsockname()[1]}/unlock", timeout_s=0.5).unlock(
                door="front", duration_s=1.0, unlock_id=UNLOCK_ID
            )
    finally:
        done.set()
        server.join(timeout=10.0)


def _proxy_handler(upstream_url: str) -> type[BaseHTTPRequestHandler]:
    """A reverse proxy's handling of a POST, as nginx does it: forward it to the controller; 504 when the
    controller does not answer in time, 502 when it cannot be reached or its answer is not valid HTTP."""
    upstream = urllib.parse.urlsplit(upstream_url)

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            connection = http.client.HTTPConnection(
                upstream.hostname or "", upstream.port, timeout=PROXY_UPSTREAM_TIMEOUT_S
            )
            try:
                connection.request("POST", upstream.path, body=body, headers=dict(self.headers.items()))
                status = connection.getresponse().status
            except TimeoutError:
                status = 504
            except (OSError, http.client.HTTPException):
                status = 502
            finally:
                connection.close()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
            return

    return Proxy


@contextmanager
def _reverse_proxy(upstream_url: str) -> Iterator[str]:
    """A real local HTTP reverse proxy in front of `upstream_url`; yields the proxied URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(upstream_url))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/unlock"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/unlock"


@pytest.mark.parametrize(
    ("controller", "status", "is_reached"),
    [("stalled", 504, True), ("cut", 502, True), ("refusing", 502, False)],
)
def test_a_gateway_answering_502_or_504_is_door_unconfirmed(
    webhook: WebhookServer, controller: str, status: int, is_reached: bool
) -> None:
    """A webhook behind a reverse proxy: the proxy forwarded the unlock and the controller took it, then did
    not answer in time (504 Gateway Timeout, RFC 9110 §15.6.5) or closed with no answer (502 Bad Gateway,
    §15.6.3), so the door may have opened; that was a plain ActuatorError, audited as a certain denial
    (door_error). A proxy also answers 502 for a controller that refused the connection, which the gate
    cannot tell from the cut one: that is DoorUnconfirmed too."""
    webhook.is_stalled, webhook.is_cut = controller == "stalled", controller == "cut"
    upstream = _closed_url() if controller == "refusing" else webhook.url
    phrase = {502: "Bad Gateway", 504: "Gateway Timeout"}[status]
    with _reverse_proxy(upstream) as url:
        with pytest.raises(
            DoorUnconfirmed, match=re.escape(f"webhook of door front answered HTTP {status} ({phrase}: ")
        ):
            _door(url, timeout_s=5.0).unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    webhook.release.set()
    assert [json.loads(r.body)["unlock_id"] for r in webhook.requests] == ([UNLOCK_ID] if is_reached else [])
