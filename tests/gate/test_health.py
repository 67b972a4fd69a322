"""/healthz rules on a fake clock, and both endpoints over real HTTP from the monitoring server thread."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from gate import (
    DecisionMade,
    FrameSeen,
    GateMetrics,
    HealthBoard,
    MonitoringServer,
    OutageSeen,
    WorkerRestarted,
)
from tests.fakes import FakeClock

MAX_AGE_S = 5.0


def _board(clock: FakeClock) -> HealthBoard:
    board = HealthBoard(max_camera_silence_s=MAX_AGE_S, clock=clock)
    board.add_camera("a", door="front")
    return board


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5.0) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_a_camera_is_unhealthy_when_frames_stop_or_its_worker_is_dead() -> None:
    clock = FakeClock()
    board = _board(clock)
    assert board.report()[0]  # starting, within the limit
    clock.advance(MAX_AGE_S + 1)
    assert not board.report()[0]  # never delivered a frame

    board(FrameSeen("a", lag_s=None))
    healthy, body = board.report()
    assert healthy and body["cameras"]["a"]["state"] == "running"
    clock.advance(MAX_AGE_S + 0.5)
    healthy, body = board.report()
    assert not healthy and body["status"] == "unhealthy"
    assert body["cameras"]["a"]["last_frame_age_s"] == MAX_AGE_S + 0.5

    board(FrameSeen("a", lag_s=0.01))
    board.set_state("a", "restarting")
    assert not board.report()[0]
    board.set_state("a", "finished")
    assert board.report()[0]


def test_health_counts_decisions_outages_and_restarts_and_ignores_unknown_cameras() -> None:
    board = _board(FakeClock())
    board(DecisionMade("a", "front", 2, 1, "granted", "match", 4, 0.7, 0.36))
    board(DecisionMade("a", "front", 9, 2, "denied", "unknown", None, 0.1, 0.36))
    board(DecisionMade("a", "front", 12, 3, "denied", "unknown", None, 0.2, 0.36))
    board(OutageSeen("a", "ended"))
    board(WorkerRestarted("a"))
    board(FrameSeen("elsewhere", lag_s=None))

    camera = board.report()[1]["cameras"]["a"]
    assert camera["decisions"] == {"granted": 1, "denied": 2}
    assert (camera["outages"], camera["restarts"], camera["door"]) == (1, 1, "front")
    assert set(board.report()[1]["cameras"]) == {"a"}


def test_monitoring_server_answers_healthz_and_metrics_over_http() -> None:
    clock = FakeClock()
    board, metrics = _board(clock), GateMetrics()
    metrics(FrameSeen("a", lag_s=None))
    server = MonitoringServer(host="127.0.0.1", port=0, metrics=metrics, health=board)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, content_type, body = _get(f"{base}/healthz")
        assert (status, content_type) == (200, "application/json")
        assert json.loads(body)["cameras"]["a"]["state"] == "starting"

        status, content_type, body = _get(f"{base}/metrics")
        assert status == 200 and content_type.startswith("text/plain")
        assert b'facegate_frames_total{camera="a"} 1.0' in body

        clock.advance(MAX_AGE_S + 1)
        status, _, body = _get(f"{base}/healthz")
        assert status == 503 and json.loads(body)["status"] == "unhealthy"
        assert _get(f"{base}/nothing")[0] == 404
    finally:
        server.stop()
        server.stop()
