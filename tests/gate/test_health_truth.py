"""/healthz tells the truth about real worker processes, read over real HTTP from the monitoring server."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gate import (
    CameraProbe,
    CameraSpec,
    DaemonSettings,
    GateDaemon,
    GateMetrics,
    GateRuntime,
    GateSettings,
    HealthBoard,
    MonitoringServer,
    fan_out,
    gate_decisions,
)
from storage import Decision, StorageSettings
from tests.fakes import FakeClock
from tests.gate.daemon_support import camera_worker
from tests.gate.test_door_outage import DOOR, HOST, TOPIC, Broker, _free_port, _video

DEADLINE_S = 300.0  # a deadline, not a claim about speed (tests/gate/test_daemon.py says why)
SILENCE_S = 30.0


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto, not yet started."""
    broker = Broker(_free_port(), tmp_path / "mosquitto.log")
    try:
        yield broker
    finally:
        broker.stop()


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


def monitored_probe(door: str) -> tuple[CameraProbe, MonitoringServer]:
    """A probe of camera `door` feeding GateMetrics and a HealthBoard, and their started MonitoringServer."""
    metrics, health = GateMetrics(), HealthBoard(max_camera_silence_s=3600.0, clock=time.monotonic)
    health.add_camera(door, door=door)
    probe = CameraProbe(camera=door, door=door, telemetry=fan_out(metrics, health), clock=time.monotonic)
    server = MonitoringServer(host="127.0.0.1", port=0, metrics=metrics, health=health)
    server.start()
    return probe, server


def _wait_for_port(server: MonitoringServer) -> int:
    deadline_s = time.monotonic() + DEADLINE_S
    while server.port == 0:
        assert time.monotonic() < deadline_s, "the monitoring server did not start"
        time.sleep(0.01)
    return server.port


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="no mosquitto binary")
def test_a_door_whose_broker_is_away_makes_its_camera_unhealthy_until_it_unlocks_again(
    tmp_path, engine, keyring, recognizer, group_faces, enroll_person, register_door, mqtt_broker
):
    """/healthz said 200 "ok" while every grant of a door whose MQTT broker was away was denied door_error:
    frames came, so the camera looked healthy, and its body counted only granted and denied. Now the door's
    last unlock decides its door_state, and a failing door is 503 until an unlock works again; the metrics
    count the door_error denials, and neither endpoint carries a name (real gate, video, models,
    Mosquitto)."""
    register_door(DOOR, engine=engine)
    alice = enroll_person("Alice Example", group_faces[0])
    video = _video(tmp_path / "door.avi", recognizer, [group_faces[0], group_faces[0]])
    runtime = GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"), engine=engine, keyring=keyring, recognizer=recognizer
    )
    settings = GateSettings(
        journal_dir=tmp_path / "journal",
        door={"kind": "mqtt", "host": HOST, "port": mqtt_broker.port, "topic": TOPIC, "timeout_s": 2.0},
        decision={"cooldown_s": 0.0},
    )
    probe, server = monitored_probe(DOOR)
    seen = []
    try:
        for decision in gate_decisions(runtime, source=video, door=DOOR, settings=settings, probe=probe):
            seen.append((decision.verdict.decision, decision.verdict.reason, decision.verdict.person_id))
            status, body = _healthz(server.port)
            camera = body["cameras"][DOOR]
            if len(seen) == 1:  # the broker is away: the grant was denied door_error
                assert (status, body["status"], camera["door_state"], camera["door_failures"]) == (
                    503,
                    "unhealthy",
                    "failing",
                    1,
                )
                mqtt_broker.start()
            else:
                assert (status, camera["door_state"], camera["healthy"]) == (200, "ok", True)
        exposition = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10.0).read()
    finally:
        server.stop()
    assert seen == [(Decision.denied, "door_error", alice), (Decision.granted, "match", alice)]
    door_errors = (
        f'facegate_decisions_total{{camera="{DOOR}",decision="denied",door="{DOOR}",reason="door_error"}} 1.0'
    )
    assert door_errors.encode() in exposition
    assert b"Alice" not in exposition and b"Alice" not in json.dumps(body).encode()
