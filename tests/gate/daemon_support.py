"""The camera worker that tests/gate/test_daemon.py runs in real spawned processes.

It lives outside the test module because each spawned worker imports the module that defines it; this
one imports only `gate`, so a worker's start does not also import pytest and the tests.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gate import CameraSpec, FrameSeen, GracefulStop, Telemetry, open_frames
from recognition import BgrImage


def camera_worker(camera: CameraSpec, telemetry: Telemetry, stop: GracefulStop) -> None:
    """Runs in the worker process. Source "crash-once:PATH" fails on its first run, "crash-times:N:PATH"
    on its first N runs (PATH counts them), "flap-times:N:PATH" sends one frame, then fails, on its first N
    runs; "crash-late:PATH" fails on its first run and on its second once the file PATH.crash exists;
    "crash-then-silent:PATH" fails on its first run and sends nothing on later ones (a camera that never
    opens again) until the stop; "reader:URL" reads the stream URL with the gate's own reader (open_frames,
    the camera's camera_timeout_s) until the stop; "3-frames" ends; a device path ("/dev/...") or a stream
    URL ("udp://...") sends 3 frames and ends, as a camera read frame by frame ends when it goes away."""
    if camera.source.startswith("crash-once:"):
        marker = Path(camera.source.split(":", 1)[1])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            raise RuntimeError("camera driver crashed")
    kind, _, rest = camera.source.partition(":")
    if kind == "reader":
        _read_stream(camera, rest, telemetry, stop)
        return
    if kind == "crash-then-silent":
        if _next_run(Path(rest)) == 1:
            raise RuntimeError("camera driver crashed on run 1")
        while not stop.is_stopping:
            time.sleep(0.02)
        return
    if kind in ("crash-times", "flap-times"):
        times, path = rest.split(":", 1)
        run = _next_run(Path(path))
        if run <= int(times):
            if kind == "flap-times":
                telemetry(FrameSeen(camera.name, lag_s=None))
            raise RuntimeError(f"camera driver crashed on run {run}")
    crash = None
    if kind == "crash-late":
        run = _next_run(Path(rest))
        if run == 1:
            raise RuntimeError("camera driver crashed on run 1")
        crash = Path(rest).with_suffix(".crash") if run == 2 else None
    is_ending = camera.source == "3-frames" or camera.source.startswith("/dev/") or "://" in camera.source
    for number in range(3 if is_ending else 10**9):
        if stop.is_stopping:
            return
        if crash is not None and crash.exists():
            raise RuntimeError("camera driver crashed on run 2")
        telemetry(FrameSeen(camera.name, lag_s=None))
        time.sleep(0.02 if number else 0.0)


def _read_stream(camera: CameraSpec, url: str, telemetry: Telemetry, stop: GracefulStop) -> None:
    """The URL's frames through the gate's reader until the stop (StopRequested while waiting for one)."""
    with open_frames(
        url,
        decode=_no_decode,
        monotonic=time.monotonic,
        timeout_s=camera.settings.camera_timeout_s,
        reconnect_initial_s=camera.settings.camera_reconnect_initial_s,
        reconnect_max_s=camera.settings.camera_reconnect_max_s,
    ) as frames:
        for _ in stop.frames(frames):
            telemetry(FrameSeen(camera.name, lag_s=None))


def _no_decode(_data: bytes) -> BgrImage:
    raise AssertionError("a stream URL is decoded by its reader, not by `decode`")


def _next_run(runs: Path) -> int:
    """Counts one more run in the file `runs`; the first is 1."""
    run = int(runs.read_text()) + 1 if runs.exists() else 1
    runs.write_text(str(run))
    return run
