"""JSON-lines logs stay JSON when a camera stalls: OpenCV and FFmpeg write no plain text to the gate's stderr.

A real MJPEG camera that stops sending mid-connection, then goes dark, into the real gate (`python -m
gate --config`, one spawned camera worker); its stderr is read as it is written.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.gate.mjpeg import MjpegCamera
from tests.processes import killed_on_exit

# A deadline for progress, not a claim about speed: a loaded machine's worker needs minutes to start.
DEADLINE_S = 300.0


def _wait_for(log: Path, text: str, gate: subprocess.Popen[bytes]) -> None:
    deadline_s = time.monotonic() + DEADLINE_S
    while text not in log.read_text(errors="replace"):
        assert gate.poll() is None, f"the gate exited with {gate.returncode}: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline_s, f"timed out waiting for {text!r}: {log.read_text()[-3000:]}"
        time.sleep(0.1)


def test_a_stalled_then_dark_camera_logs_its_outages_as_json_only(tmp_path: Path, register_door) -> None:
    register_door("lab")
    camera = MjpegCamera([np.full((240, 320, 3), 90, np.uint8)] * 3, interval_s=0.05)  # then stalls
    gates = tmp_path / "gates.yaml"
    cameras = [{"name": "door-cam", "source": camera.url, "door": "lab"}]
    gates.write_text(json.dumps({"daemon": {"http_port": 0}, "cameras": cameras}))
    environment = {
        **os.environ,
        "FACEGATE_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "FACEGATE_GATE_CAMERA_TIMEOUT_S": "1",
    }
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        gate = subprocess.Popen(
            [sys.executable, "-m", "gate", "--config", str(gates), "-v", "--log-format", "json"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=environment,
        )
    with killed_on_exit(gate):
        try:
            _wait_for(log, "(read_timeout)", gate)  # the stall: FFmpeg's read timeout
        finally:
            camera.stop()
        _wait_for(log, "(open_failed)", gate)  # the camera gone: FFmpeg's refused connection
        gate.send_signal(signal.SIGTERM)
        assert gate.wait(timeout=DEADLINE_S) == 0

    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]  # all JSON
    outages = [r for r in records if r["logger"] == "gate.worker" and "(read_timeout)" in r["message"]]
    assert outages and all((r["camera"], r["level"]) == ("door-cam", "WARNING") for r in outages)
    assert any(r.get("camera") == "door-cam" and "(open_failed)" in r["message"] for r in records)
