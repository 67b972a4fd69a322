"""/healthz tells the truth about real worker processes, read over real HTTP from the monitoring server."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gate import (
    CameraSpec,
    DaemonSettings,
    GateDaemon,
    GateMetrics,
    GateSettings,
    HealthBoard,
    MonitoringServer,
)
from tests.fakes import FakeClock
from tests.gate.daemon_support import camera_worker

DEADLINE_S = 300.0  # a deadline, not a claim about speed (tests/gate/test_daemon.py says why)
SILENCE_S = 30.0


def _healthz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10.0) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _poll(port: int, condition: Any, what: str) -> tuple[int, dict[str, Any]]:
    deadline_s = time.monotonic() + DEADLINE_S
    while True:
        status, body = _healthz(port)
        if condition(body["cameras"]["flaky"]):
            return status, body
        assert time.monotonic() < deadline_s, f"timed out waiting for {what}: {body}"
        time.sleep(0.05)


def test_a_restarted_worker_that_never_delivered_a_frame_stays_unhealthy(tmp_path: Path) -> None:
    """A worker restarted after a crash reset the camera's silence clock: a camera whose workers crash and
    restart in a loop before their first frame answered 200 during every start, however long it had been
    without a frame. The silence is now counted from the camera's first start until a frame comes."""
    clock = FakeClock()  # the daemon's and the board's: a restart waits until the test moves it
    health = HealthBoard(max_camera_silence_s=SILENCE_S, clock=clock)
    server = MonitoringServer(host="127.0.0.1", port=0, metrics=GateMetrics(), health=health)
    quiet = GateSettings.model_validate({"decision": {"error_audit_interval_s": 3600.0}})
    daemon = GateDaemon(
        cameras=[CameraSpec("flaky", f"crash-then-silent:{tmp_path / 'runs'}", "front", quiet)],
        worker_main=camera_worker,
        settings=DaemonSettings(http_port=0, restart_initial_s=1.0, restart_max_s=60.0, stop_timeout_s=120.0),
        telemetry=health,
        health=health,
        server=server,
        clock=clock,
        is_verbose=False,
    )
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        port = _wait_for_port(server)
        status, _ = _poll(port, lambda camera: camera["state"] == "restarting", "the first crash")
        assert status == 503
        clock.advance(SILENCE_S + 1.0)  # past the backoff: the daemon restarts the worker, which stays silent
        status, body = _poll(port, lambda camera: camera["restarts"] == 1, "the restart")
        camera = body["cameras"]["flaky"]
        assert (camera["state"], camera["frames"], camera["last_frame_age_s"]) == ("starting", 0, None)
        assert (status, body["status"], camera["healthy"]) == (503, "unhealthy", False)
    finally:
        daemon.stop()
        runner.join(DEADLINE_S)
    assert not runner.is_alive()


def _wait_for_port(server: MonitoringServer) -> int:
    deadline_s = time.monotonic() + DEADLINE_S
    while server.port == 0:
        assert time.monotonic() < deadline_s, "the monitoring server did not start"
        time.sleep(0.01)
    return server.port
