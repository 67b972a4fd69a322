"""The camera worker that tests/gate/test_daemon.py runs in real spawned processes.

It lives outside the test module because each spawned worker imports the module that defines it; this
one imports only `gate`, so a worker's start does not also import pytest and the tests.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gate import CameraSpec, FrameSeen, GracefulStop, Telemetry


def camera_worker(camera: CameraSpec, telemetry: Telemetry, stop: GracefulStop) -> None:
    """Runs in the worker process. Source "crash-once:PATH" fails on its first run, "crash-times:N:PATH"
    on its first N runs (PATH counts them); "3-frames" ends."""
    if camera.source.startswith("crash-once:"):
        marker = Path(camera.source.split(":", 1)[1])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            raise RuntimeError("camera driver crashed")
    if camera.source.startswith("crash-times:"):
        _, times, path = camera.source.split(":", 2)
        runs = Path(path)
        run = int(runs.read_text()) + 1 if runs.exists() else 1
        runs.write_text(str(run))
        if run <= int(times):
            raise RuntimeError(f"camera driver crashed on run {run}")
    for number in range(3 if camera.source == "3-frames" else 10**9):
        if stop.is_stopping:
            return
        telemetry(FrameSeen(camera.name, lag_s=None))
        time.sleep(0.02 if number else 0.0)
