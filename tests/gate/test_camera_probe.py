"""Why an http(s) camera did not open: real local HTTP servers answering 401 and 404, a closed port, TLS.

OpenCV says only that the open failed; the gate probes the camera itself (gate/http_probe.py: without a
login unless the camera asks for one, and then at most once an interval) and names
the cause with the camera's URL, its password never shown.
"""

from __future__ import annotations

import base64
import http.server
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from gate import CameraUnavailable, LatestFrameReader, OpencvFrameSource, SourceOutage
from gate.http_probe import LOGIN_PROBE_INTERVAL_S
from tests.gate.mjpeg import MjpegCamera
from tests.gate.test_stream import _reader

PASSWORD = "s3cr%40t"  # percent-encoded in the URL: s3cr@t
WAIT_S = 20.0


class _JoiningHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the connection threads


class AnsweringCamera:
    """A real HTTP server that answers every GET with `status` (and a Basic challenge for a 401); it keeps
    the User-Agent and Authorization of each request (FFmpeg's say `Lavf`, the probe's say nothing)."""

    def __init__(self, status: int, *, port: int = 0) -> None:
        self.requests: list[tuple[str | None, str | None]] = []
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                camera.requests.append((self.headers.get("User-Agent"), self.headers.get("Authorization")))
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = _JoiningHttpServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    def url(self, *, scheme: str = "http") -> str:
        return f"{scheme}://admin:{PASSWORD}@127.0.0.1:{self.port}/video.mjpg"

    def probes(self) -> list[str | None]:
        """The Authorization header of each request that was not FFmpeg's."""
        return [auth for agent, auth in self.requests if not (agent or "").startswith("Lavf")]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def answering() -> Iterator[list[AnsweringCamera]]:
    cameras: list[AnsweringCamera] = []
    yield cameras
    for camera in cameras:
        camera.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _open_failure(url: str) -> CameraUnavailable:
    with pytest.raises(CameraUnavailable) as caught:
        next(OpencvFrameSource(url, timeout_s=5.0).frames())
    return caught.value


SHOWN = "admin:***@127.0.0.1:"
LOGIN = "Basic " + base64.b64encode(b"admin:s3cr@t").decode()
"""The Authorization a probe sends with the URL's user name and password."""


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (401, "HTTP 401 Unauthorized: the camera refused the URL's user name and password"),
        (404, "HTTP 404 Not Found"),
    ],
)
def test_a_camera_that_answers_an_error_is_named_with_its_status(answering, status: int, cause: str) -> None:
    camera = AnsweringCamera(status)
    answering.append(camera)

    error = _open_failure(camera.url())

    assert error.cause == cause
    assert str(error) == f"cannot open video source 'http://{SHOWN}{camera.port}/video.mjpg': {cause}"
    assert "s3cr" not in str(error)
    login = [LOGIN] if status == 401 else []  # asked without a login first; with the URL's only if asked
    assert camera.probes() == [None, *login]


def test_a_camera_url_without_a_user_gets_told_the_camera_wants_one(answering) -> None:
    camera = AnsweringCamera(401)
    answering.append(camera)

    error = _open_failure(f"http://127.0.0.1:{camera.port}/video.mjpg")

    assert error.cause == "HTTP 401 Unauthorized: the camera asks for a user name and password (Basic); " + (
        "the URL has none"
    )
    assert camera.probes() == [None]


def test_a_camera_that_keeps_refusing_the_login_is_sent_it_by_the_probe_once_an_interval(answering) -> None:
    """Each failed open is probed without a login; the URL's login is sent again only after the interval."""
    camera = AnsweringCamera(401)
    answering.append(camera)
    now_s = [0.0]
    source = OpencvFrameSource(camera.url(), timeout_s=5.0, monotonic=lambda: now_s[0])
    causes = []
    for step_s in (0.0, 1.0, LOGIN_PROBE_INTERVAL_S - 2.0, 1.0):
        now_s[0] += step_s
        with pytest.raises(CameraUnavailable) as caught:
            next(source.frames())
        causes.append(caught.value.cause)

    assert causes == ["HTTP 401 Unauthorized: the camera refused the URL's user name and password"] * 4
    assert camera.probes() == [None, LOGIN, None, None, None, LOGIN]


def test_a_closed_port_is_a_refused_connection() -> None:
    port = _closed_port()
    error = _open_failure(f"http://admin:{PASSWORD}@127.0.0.1:{port}/video.mjpg")
    assert error.cause == "connection refused"
    assert f"'http://{SHOWN}{port}/video.mjpg'" in str(error) and "s3cr" not in str(error)


def test_https_to_a_plain_http_camera_is_a_tls_error(answering) -> None:
    camera = AnsweringCamera(404)
    answering.append(camera)
    error = _open_failure(camera.url(scheme="https"))
    assert error.cause is not None and error.cause.startswith("TLS error: ")
    assert "s3cr" not in str(error)


class DribblingCamera(AnsweringCamera):
    """Refuses FFmpeg's login at once, and answers anyone else (the probe) a 401 a byte every 0.05 s."""

    def __init__(self) -> None:
        self._halt = threading.Event()
        super().__init__(401)
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                camera.requests.append((self.headers.get("User-Agent"), self.headers.get("Authorization")))
                if (self.headers.get("User-Agent") or "").startswith("Lavf"):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm="camera"\r\n\r\n'
                for byte in answer:  # each byte well within the socket timeout, the answer far beyond it
                    if camera._halt.wait(0.05):
                        return
                    self.wfile.write(bytes([byte]))

            def log_message(self, *_args: object) -> None:
                pass

        self._server.RequestHandlerClass = Handler

    def stop(self) -> None:
        self._halt.set()
        super().stop()


def test_the_probe_of_a_failed_open_ends_by_the_opens_deadline(answering) -> None:
    """The probe gave each socket call its own timeout_s, and then asked again with the login, so a camera
    that answered it a byte at a time (or a resolver that did not answer) held the open's failure, and the
    reader's stop, past the camera timeout: open and probe now keep to one deadline, timeout_s from the
    open."""
    camera = DribblingCamera()
    answering.append(camera)
    with pytest.raises(CameraUnavailable) as caught:
        next(OpencvFrameSource(camera.url(), timeout_s=1.0).frames())

    assert caught.value.cause == "no answer within 1 s"
    assert camera.probes() == [None]  # the answer never came complete: no login asked for


def _wait_for(condition, what: str) -> None:
    deadline_s = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline_s, f"timed out waiting for {what}"
        time.sleep(0.01)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "gate.stream" and r.levelno >= logging.WARNING
    ]


def test_the_outage_of_a_camera_that_refuses_its_password_names_the_cause_once(
    answering, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gate.stream")
    camera = AnsweringCamera(401)
    answering.append(camera)
    reader = _reader(camera.url())
    try:
        reader.start()
        outage = reader.poll(WAIT_S)
        _wait_for(lambda: len(camera.probes()) >= 3, "three failed opens probed")
    finally:
        reader.stop()

    assert isinstance(outage, SourceOutage) and outage.reason == "open_failed"  # the audited reason
    assert camera.probes().count(LOGIN) == 1  # a camera locking out failed logins: the probe spent one
    shown = f"http://{SHOWN}{camera.port}/video.mjpg"
    assert _warnings(caplog) == [
        f"source {shown}: unavailable (open_failed: HTTP 401 Unauthorized: the camera refused the URL's "
        "user name and password); reopening it with backoff"
    ]
    assert "s3cr" not in caplog.text


def test_a_camera_that_drops_and_then_refuses_its_password_names_that_cause_once(
    answering, caplog: pytest.LogCaptureFixture
) -> None:
    """The outage began as the stream's end; the refusal that kept it going is named in a line of its own."""
    caplog.set_level(logging.DEBUG, logger="gate.stream")
    frames = [np.full((48, 64, 3), 90, np.uint8)] * 5
    streaming = MjpegCamera(frames, interval_s=0.02, is_looping=True)
    url = f"http://admin:{PASSWORD}@127.0.0.1:{streaming.port}/stream.mjpg"
    reader = _reader(url)
    try:
        reader.start()
        assert not isinstance(reader.poll(WAIT_S), SourceOutage)
        streaming.stop()  # the connection ends; the camera comes back asking for another password
        camera = AnsweringCamera(401, port=streaming.port)
        answering.append(camera)
        _wait_for(lambda: len(camera.probes()) >= 3, "three failed opens probed")
    finally:
        reader.stop()
        streaming.stop()

    shown = f"source http://{SHOWN}{streaming.port}/stream.mjpg"
    lines = [line for line in _warnings(caplog) if not line.endswith(": connection refused")]  # the restart
    assert lines == [
        f"{shown}: unavailable (ended); reopening it with backoff",
        f"{shown}: cannot open it: HTTP 401 Unauthorized: the camera refused the URL's user name and "
        "password",
    ]
    assert "s3cr" not in caplog.text


def test_each_count_line_of_a_camera_outage_names_its_last_cause(
    answering: list[AnsweringCamera], caplog: pytest.LogCaptureFixture
) -> None:
    """Only the outage's first line named why the camera did not open: its count lines ('still unavailable:
    N reopen attempts failed') said nothing of it, so an operator reading the log later saw no reason."""
    caplog.set_level(logging.DEBUG, logger="gate.stream")
    camera = AnsweringCamera(401)
    answering.append(camera)
    reader = LatestFrameReader(
        OpencvFrameSource(camera.url(), timeout_s=5.0),
        monotonic=time.monotonic,
        reconnect_initial_s=0.05,
        reconnect_max_s=0.05,
        error_log_interval_s=0.2,  # a count line after a few failed opens
    )
    try:
        reader.start()
        _wait_for(lambda: any(": still unavailable: " in line for line in _warnings(caplog)), "a count line")
    finally:
        reader.stop()

    shown = re.escape(f"source http://{SHOWN}{camera.port}/video.mjpg")
    cause = re.escape("HTTP 401 Unauthorized: the camera refused the URL's user name and password")
    counted = rf"{shown}: still unavailable: \d+ reopen attempts failed in the last \d+ s"
    still = [line for line in _warnings(caplog) if ": still unavailable: " in line]
    assert re.fullmatch(rf"{counted} \(last: open_failed: {cause}\)", still[0]), still[0]
