"""A camera URL's secrets never reach the gate's log lines or the audit log: its user's password, and the
query parameters that hold one (srt's ?passphrase=, ?pwd=, ?token=, ?key=, ?auth=, a signed URL's ?sig=).

The real `python -m gate --source URL` against a real local camera that refuses the login, so the gate logs
the outage and audits it (the audit's `source` is what the API, the console and `facegate doors` show).
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gate import CAMERA_UNAVAILABLE, redacted_source
from storage import EventFilter, query_events, session_scope
from tests.gate.test_camera_probe import AnsweringCamera
from tests.processes import killed_on_exit

DOOR = "front"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
SECRETS = {
    "passphrase": "Passphrase1",
    "pwd": "Pwd2",
    "token": "Token3",
    "key": "Key4",
    "auth": "Auth5",
    "sig": "Sig6",
    "password": "Password7",
    "X-Amz-Signature": "Amz8",
}


def _wait_for(condition: Callable[[], bool], *, what: str) -> None:
    deadline_s = time.monotonic() + START_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline_s, f"timed out waiting for {what}"
        time.sleep(0.1)


def _audited_sources(engine) -> list[str]:
    with session_scope(engine) as session:
        events, _ = query_events(session, where=EventFilter(door=DOOR), limit=100)
    return [e.source for e in events if e.reason == CAMERA_UNAVAILABLE]


def _gate_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        "HOME": str(tmp_path),
        "FACEGATE_HOME": str(tmp_path / "home"),
        "FACEGATE_DATABASE_URL": database_url,
        "FACEGATE_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "FACEGATE_GATE_DAEMON_HTTP_PORT": "0",
        "FACEGATE_GATE_CAMERA_RECONNECT_INITIAL_S": "0.05",
        "FACEGATE_GATE_CAMERA_RECONNECT_MAX_S": "0.2",
        "FACEGATE_GATE_DECISION__ERROR_AUDIT_INTERVAL_S": "1",  # a count line soon after the first one
    }


def test_a_camera_urls_query_secrets_are_masked_in_the_gates_logs_and_audit_log(
    tmp_path: Path, database_url: str, engine, register_door
) -> None:
    register_door(DOOR, engine=engine)
    camera = AnsweringCamera(401)
    query = "&".join(f"{name}={value}" for name, value in SECRETS.items())
    env = _gate_env(tmp_path, database_url)
    command = ["-m", "gate", "--source", f"{camera.url()}?channel=1&{query}&user=bob", "--door", DOOR]
    err = tmp_path / "gate.err"
    try:
        with err.open("wb") as err_file:
            gate = subprocess.Popen([sys.executable, *command], env=env, stdout=err_file, stderr=err_file)
        with killed_on_exit(gate):
            _wait_for(
                lambda: "still unavailable" in err.read_text() or gate.poll() is not None,
                what="the outage's count line",
            )
            assert gate.poll() is None, err.read_text()[-3000:]
            gate.send_signal(signal.SIGTERM)
            gate.wait(timeout=STOP_TIMEOUT_S)
    finally:
        camera.stop()

    masked = "&".join(f"{name}=***" for name in SECRETS)
    shown = f"http://admin:***@127.0.0.1:{camera.port}/video.mjpg?channel=1&{masked}&user=bob"
    logs = err.read_text()
    assert f"source {shown}: unavailable (open_failed: HTTP 401 Unauthorized" in logs
    assert f"source {shown}: still unavailable" in logs
    assert _audited_sources(engine) == [shown]
    leaked = [value for value in [*SECRETS.values(), "s3cr"] if value in logs]
    assert leaked == []


PIPELINE = (
    "rtspsrc location=rtsp://admin:Hunter2@127.0.0.1:9/cam user-id=admin user-pw=Secret9 latency=0"
    " ! rtph264depay ! avdec_h264 ! videoconvert ! appsink sync=false"
)


def test_a_gstreamer_pipelines_secrets_are_masked_in_the_gates_error(
    tmp_path: Path, database_url: str, engine, register_door
) -> None:
    """A GStreamer pipeline as the source (OpenCV takes one when built with GStreamer; this build is not, so
    it does not open) was shown as written, its URL's password and its rtspsrc user-pw included."""
    register_door(DOOR, engine=engine)
    env = _gate_env(tmp_path, database_url)
    command = [sys.executable, "-m", "gate", "--source", PIPELINE, "--door", DOOR]
    gate = subprocess.run(command, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)

    shown = (
        "rtspsrc location=rtsp://admin:***@127.0.0.1:9/cam user-id=admin user-pw=*** latency=0"
        " ! rtph264depay ! avdec_h264 ! videoconvert ! appsink sync=false"
    )
    output = gate.stdout + gate.stderr
    assert gate.returncode == 1, output[-3000:]
    assert f"error: CameraUnavailable: cannot open video source {shown!r}" in output
    assert [secret for secret in ("Hunter2", "Secret9") if secret in output] == []


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        (
            "srt://10.0.0.7:9000?passphrase=abc123&mode=caller",
            "srt://10.0.0.7:9000?passphrase=***&mode=caller",
        ),
        ("rtsp://cam/stream?password=x&user=bob", "rtsp://cam/stream?password=***&user=bob"),
        ("HTTP://cam/video.mjpg?PWD=1#Token=2&x=3", "HTTP://cam/video.mjpg?PWD=***#Token=***&x=3"),
        (
            "https://c/s?access_token=t&apiKey=k&Authorization=a&sig=s&ts=9",
            "https://c/s?access_token=***&apiKey=***&Authorization=***&sig=***&ts=9",
        ),
        ("https://b/v?X-Amz-Credential=A%2F1&X-Amz-Date=1", "https://b/v?X-Amz-Credential=***&X-Amz-Date=1"),
        ("http://cam/a?pass%77ord=q&empty_token=", "http://cam/a?pass%77ord=***&empty_token="),
        (  # XMEye-style cameras put the login into the path
            "rtsp://10.0.0.7:554/user=admin&password=hunter2&channel=1&stream=0.sdp?",
            "rtsp://10.0.0.7:554/user=admin&password=***&channel=1&stream=0.sdp?",
        ),
        ("rtsp://u:p@ss@[::1]:554/a;token=z", "rtsp://u:***@[::1]:554/a;token=***"),
        ("file:///videos/door.avi?key=1", "file:///videos/door.avi?key=1"),  # a file: shown as written
        ("/videos/front door.avi", "/videos/front door.avi"),
        ("http://cam/cgi?user=bob&pw=1", "http://cam/cgi?user=bob&pw=***"),
        (PIPELINE, PIPELINE.replace("Hunter2", "***").replace("Secret9", "***")),
        (  # GStreamer: a quoted URL, a quoted property, a proxy password
            'srtsrc uri="srt://h:9000?mode=caller&passphrase=p1" passphrase="p 2" ! decodebin ! appsink',
            'srtsrc uri="srt://h:9000?mode=caller&passphrase=***" passphrase=*** ! decodebin ! appsink',
        ),
        (
            "souphttpsrc location='http://u:pw3@cam/v.mjpg?pwd=4' proxy-pw=5 ! jpegdec ! appsink",
            "souphttpsrc location='http://u:***@cam/v.mjpg?pwd=***' proxy-pw=*** ! jpegdec ! appsink",
        ),
        (
            "uridecodebin uri=rtsp://u:p@[::1]/a;token=z ! appsink",
            "uridecodebin uri=rtsp://u:***@[::1]/a;token=*** ! appsink",
        ),
    ],
)
def test_a_urls_secret_parameters_are_masked_and_the_rest_kept_as_written(source: str, shown: str) -> None:
    assert redacted_source(source) == shown
