"""GateDaemon: real worker processes, ordered start and stop, a crashed worker restarted with backoff.

The camera workers (tests/gate/daemon_support.py) stand in for a camera and its gate (K3: the hardware
is what is faked); the real gate runs in these processes in tests/cli/test_gate_config.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gate import (
    CameraSpec,
    DaemonSettings,
    GateDaemon,
    GateMetrics,
    GateSettings,
    GracefulStop,
    HealthBoard,
    StopRequested,
    fan_out,
)
from tests.gate.daemon_support import camera_worker
from tests.processes import killed_on_exit

# A deadline, not a claim about speed: every worker is a spawned process that imports gate first (1.7
# CPU-s); on a loaded 2-core machine one such import at nice 10 took 54 s, and three start at once.
DEADLINE_S = 300.0


def _poll(condition, what: str) -> None:
    deadline_s = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline_s, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_frames_end_at_the_next_frame_after_a_stop_request() -> None:
    stop = GracefulStop()
    taken = []
    for item in stop.frames(range(10)):
        taken.append(item)
        if item == 2:
            stop.request()
    assert taken == [0, 1, 2]


def test_a_stop_while_waiting_for_a_frame_unwinds_the_source() -> None:
    stop = GracefulStop()
    closed = []

    def blocked_source():
        try:
            yield 0
            stop.request()  # the signal arrives while the reader waits for a frame
            yield 1
        finally:
            closed.append(True)

    taken = []
    with pytest.raises(StopRequested):
        for item in stop.frames(blocked_source()):
            taken.append(item)
    assert taken == [0] and closed == [True]


def test_workers_start_in_order_a_crashed_one_restarts_and_stop_ends_them_all(tmp_path: Path) -> None:
    settings = DaemonSettings(http_port=0, restart_initial_s=0.2, restart_max_s=5.0, stop_timeout_s=20.0)
    cameras = [
        CameraSpec("flaky", f"crash-once:{tmp_path / 'crashed'}", "front", GateSettings()),
        CameraSpec("steady", "steady", "back", GateSettings()),
        CameraSpec("replay", "3-frames", "side", GateSettings()),
    ]
    metrics, health = GateMetrics(), HealthBoard(max_camera_silence_s=30.0, clock=time.monotonic)
    daemon = GateDaemon(
        cameras=cameras,
        worker_main=camera_worker,
        settings=settings,
        telemetry=fan_out(metrics, health),
        health=health,
        server=None,
        clock=time.monotonic,
        is_verbose=False,
    )
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        state = lambda: health.report()[1]["cameras"]  # noqa: E731
        _poll(lambda: state()["replay"]["state"] == "finished", "the finite camera to finish")
        _poll(lambda: state()["flaky"]["restarts"] == 1 and state()["flaky"]["frames"] > 0, "the restart")
        _poll(lambda: state()["steady"]["frames"] > 5, "steady frames")
        assert health.report()[0]
        pids = [state()[name]["pid"] for name in ("flaky", "steady")]
        first_pid = int((tmp_path / "crashed").read_text())
        assert first_pid not in pids
        assert b'facegate_worker_restarts_total{camera="flaky"} 1.0' in metrics.exposition()
    finally:
        daemon.stop()
        daemon.stop()
        runner.join(DEADLINE_S)
    assert not runner.is_alive()
    cameras_after = health.report()[1]["cameras"]
    assert [cameras_after[name]["state"] for name in ("flaky", "steady", "replay")] == [
        "stopped",
        "stopped",
        "finished",
    ]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("source", ["/dev/video-unplugged", "udp://@:5004", "srt://cam:9000"])
def test_a_camera_device_or_stream_whose_worker_ends_is_restarted_not_finished(source: str) -> None:
    """A camera named by its device path (/dev/video0, the README's example) or by a udp:// or srt:// URL (as
    rtmp://) was taken for a video file: when it went away its worker ended with exit code 0, and the daemon
    marked it finished (healthy) for good."""
    seen: list[dict[str, Any]] = []

    def restarted_or_finished(camera: dict[str, Any]) -> bool:
        seen.append(camera)
        return camera["restarts"] >= 1 or camera["state"] == "finished"

    _run_flaky_worker(source, restart_max_s=5.0, until=restarted_or_finished, what="its end")
    assert seen[-1]["restarts"] >= 1 and seen[-1]["state"] != "finished"


def _run_flaky_worker(
    source: str, *, restart_max_s: float, until: Callable[[dict[str, Any]], bool], what: str
) -> None:
    """Runs a daemon of one camera, "flaky", until `until` holds for its health; no count line meanwhile."""
    quiet = GateSettings.model_validate({"decision": {"error_audit_interval_s": 3600.0}})
    health = HealthBoard(max_camera_silence_s=30.0, clock=time.monotonic)
    daemon = GateDaemon(
        cameras=[CameraSpec("flaky", source, "front", quiet)],
        worker_main=camera_worker,
        # a deadline, not a claim about speed: a worker at nice 15 on a loaded machine took over 10 s to stop
        settings=DaemonSettings(
            http_port=0, restart_initial_s=0.05, restart_max_s=restart_max_s, stop_timeout_s=120.0
        ),
        telemetry=health,
        health=health,
        server=None,
        clock=time.monotonic,
        is_verbose=False,
    )
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        _poll(lambda: until(health.report()[1]["cameras"]["flaky"]), what)
    finally:
        daemon.stop()
        runner.join(DEADLINE_S)


def _traced_runs(capfd: pytest.CaptureFixture[str]) -> list[int]:
    """The runs of camera "flaky" whose crash its worker logged with a traceback (in the workers' stderr)."""
    workers = capfd.readouterr().err
    runs = [
        int(run) for run in re.findall(r"^RuntimeError: camera driver crashed on run (\d+)$", workers, re.M)
    ]
    assert workers.count("camera flaky: worker failed") == len(runs), workers
    assert workers.count("Traceback (most recent call last)") == len(runs), workers
    return runs


def test_a_worker_that_keeps_crashing_logs_one_traceback_then_counts_its_exits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    crashes = 3
    caplog.set_level(logging.WARNING, logger="gate.daemon")
    ended = lambda: any("up again" in r.getMessage() for r in caplog.records)  # noqa: E731
    _run_flaky_worker(  # its end is logged once the running worker has sent events for restart_max_s
        f"crash-times:{crashes}:{tmp_path / 'runs'}",
        restart_max_s=1.0,
        until=lambda flaky: flaky["restarts"] == crashes and ended(),
        what="the worker to run for restart_max_s",
    )
    # The parent: the first exit, then (no count line in the interval) the end with every exit counted.
    lines = [r.getMessage() for r in caplog.records if r.name == "gate.daemon"]
    assert len(lines) == 2, lines
    assert lines[0] == "camera flaky: worker exited (exit code 1); restarting it with backoff"
    assert lines[1].startswith("camera flaky: worker up again after ")
    assert lines[1].endswith(f"({crashes} exits)")
    assert _traced_runs(capfd) == [1]  # the first crash's traceback only, not one per restart


def test_a_worker_that_keeps_dying_after_an_event_is_logged_like_one_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A worker that sends an event, then dies, again and again (a camera that connects, then crashes its
    driver) logged 'worker up again' and a new 'worker exited' each time; it ends only once a restarted
    worker stayed up restart_max_s (when its backoff resets too), so here it has not ended. Each death
    logged the worker's traceback; now only the first does (the others at debug level)."""
    flaps = 2
    caplog.set_level(logging.WARNING, logger="gate.daemon")
    _run_flaky_worker(  # the parent handles a worker's events before it hands them on
        f"flap-times:{flaps}:{tmp_path / 'runs'}",
        restart_max_s=3600.0,
        until=lambda flaky: flaky["restarts"] == flaps and flaky["frames"] > flaps + 1,
        what="the last worker to send its second frame",
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "gate.daemon"]
    assert lines == ["camera flaky: worker exited (exit code 1); restarting it with backoff"]
    assert _traced_runs(capfd) == [1]


def test_a_worker_that_dies_after_its_failure_ended_logs_its_traceback_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A restart that began inside a failure and ran restart_max_s ends it ('worker up again'): its death
    after that is a new failure, logged with the worker's traceback."""
    runs = tmp_path / "runs"
    caplog.set_level(logging.WARNING, logger="gate.daemon")
    ended_at: list[int] = []  # the frames counted when run 2 ended the failure of run 1 ('up again')

    def ups() -> int:
        return sum("up again" in r.getMessage() for r in caplog.records)

    def until(flaky: dict[str, Any]) -> bool:
        if ups() and not ended_at:
            ended_at.append(flaky["frames"])
        if ended_at and flaky["frames"] > ended_at[0]:  # the parent handed on an event since: run 2 dies now
            runs.with_suffix(".crash").touch()
        return flaky["restarts"] == 2 and ups() == 2  # run 3 has run restart_max_s

    _run_flaky_worker(f"crash-late:{runs}", restart_max_s=1.0, until=until, what="run 3 for restart_max_s")
    lines = [r.getMessage() for r in caplog.records if r.name == "gate.daemon"]
    exited = "camera flaky: worker exited (exit code 1); restarting it with backoff"
    assert [line.split(" after ")[0] for line in lines] == [exited, "camera flaky: worker up again"] * 2
    assert _traced_runs(capfd) == [1, 2]


ORPHAN_SCRIPT = """
import sys, threading, time
from gate import CameraSpec, DaemonSettings, GateDaemon, GateSettings, HealthBoard
from tests.gate.daemon_support import camera_worker
health = HealthBoard(max_camera_silence_s=30.0, clock=time.monotonic)
camera = CameraSpec("steady", "steady", "front", GateSettings())
daemon = GateDaemon(cameras=[camera], worker_main=camera_worker, settings=DaemonSettings(http_port=0),
    telemetry=health, health=health, server=None, clock=time.monotonic, is_verbose=False)
threading.Thread(target=daemon.run, daemon=True).start()
while not health.report()[1]["cameras"]["steady"]["frames"]:
    time.sleep(0.05)
print(health.report()[1]["cameras"]["steady"]["pid"], "pytest" in sys.modules, flush=True)
time.sleep(600)
"""


def _has_exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie nobody reaps has exited all the same


def test_a_worker_stops_when_its_daemon_is_killed() -> None:
    repo_root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-c", ORPHAN_SCRIPT]
    with (
        subprocess.Popen(command, cwd=repo_root, stdout=subprocess.PIPE, text=True) as daemon,
        killed_on_exit(daemon),  # the test's act: kill the daemon, then see its worker stop
    ):
        assert daemon.stdout is not None
        pid, has_pytest = daemon.stdout.readline().split()
        worker_pid = int(pid)
        assert not _has_exited(worker_pid)
        assert has_pytest == "False", "the worker's module imports pytest, and so would every worker"
    deadline_s = time.monotonic() + DEADLINE_S
    while not _has_exited(worker_pid):
        assert time.monotonic() < deadline_s, "the orphaned worker kept running"
        time.sleep(0.05)


class _SilentHttpCamera:
    """A real TCP server that accepts every connection and never answers: an HTTP camera's open blocks."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # closed by stop()
            while True:
                self.accepted.append(self._server.accept()[0])

    def stop(self) -> None:
        self._server.close()
        for connection in self.accepted:
            connection.close()


def test_a_worker_stopped_while_its_camera_open_blocks_stops_without_being_killed(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """The stop budget was stop_timeout_s alone: a worker whose reader was in an open that returns only at
    camera_timeout_s (10 s, as stop_timeout_s, by default) was killed. Now it gets camera_timeout_s (and a
    little more) and journal_drain_timeout_s on top, and ends by itself (its own `camera ... stopped`).
    The camera timeout is well above the stop timeout, so that a worker killed at the old budget is no
    matter of timing, and the stop timeout leaves a loaded machine seconds for the worker's exit."""
    caplog.set_level(logging.INFO, logger="gate.daemon")
    camera = _SilentHttpCamera()
    settings = GateSettings(camera_timeout_s=20.0, journal_drain_timeout_s=0.0)
    spec = CameraSpec("yard", f"reader:http://127.0.0.1:{camera.port}/video.mjpg", "front", settings)
    health = HealthBoard(max_camera_silence_s=30.0, clock=time.monotonic)
    daemon = GateDaemon(
        cameras=[spec],
        worker_main=camera_worker,
        settings=DaemonSettings(http_port=0, stop_timeout_s=8.0),
        telemetry=health,
        health=health,
        server=None,
        clock=time.monotonic,
        is_verbose=True,  # the worker logs its `camera ... stopped` (info)
    )
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        _poll(lambda: len(camera.accepted) > 0, "the worker's reader to connect and wait in its open")
    finally:
        daemon.stop()
        runner.join(DEADLINE_S)
        camera.stop()

    assert not runner.is_alive()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "camera yard stopped" in capfd.readouterr().err
    assert health.report()[1]["cameras"]["yard"]["state"] == "stopped"
