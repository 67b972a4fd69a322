"""`/healthz` and `/metrics` of a gate host: a per-camera health board and a small HTTP server thread.

The server is the standard library's (only `api` may use a web framework, A3): it answers two GET
paths and nothing else, and it is bound to 127.0.0.1 by default because it needs no API key.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from gate.decision import DOOR_ERROR, DOOR_UNCONFIRMED
from gate.metrics import (
    Clock,
    DecisionMade,
    FrameSeen,
    GalleryChecked,
    GateMetrics,
    OutageSeen,
    TelemetryEvent,
    WorkerRestarted,
)
from storage import Decision

logger = logging.getLogger(__name__)

HEALTHY_STATES = frozenset({"starting", "running", "finished"})
DOOR_FAILURES = frozenset({DOOR_ERROR, DOOR_UNCONFIRMED})
"""A grant's unlock that never left, or was sent and never confirmed: the door is not known to work."""


@dataclass
class CameraHealth:
    """What `/healthz` reports about one camera; times are on the injected monotonic clock."""

    door: str
    state: str = "starting"
    state_since_s: float = 0.0
    added_at_s: float = 0.0
    pid: int | None = None
    last_frame_at_s: float | None = None
    frames: int = 0
    outages: int = 0
    restarts: int = 0
    door_state: str = "unknown"  # until its first unlock: "ok" (the last one worked) or "failing"
    door_failures: int = 0
    gallery_state: str = "unknown"  # until the first face: "ok" or "unavailable" (every face denied)
    decisions: Counter[str] = field(default_factory=Counter)


class HealthBoard:
    """Per-camera state for `/healthz`, updated from telemetry and by the daemon; thread-safe.

    A camera is unhealthy when its worker is dead (state "restarting" or "failed") or when it has
    delivered no frame for longer than `max_camera_silence_s` (counted from its first start while it has
    none: a worker restarted after a crash is no sign of life, so one that crashes in a loop before its first
    frame stays unhealthy while it starts).
    A camera whose finite source (file, folder) ended is "finished" and healthy. A camera is unhealthy too
    while its door's last unlock failed (door_error or door_unconfirmed), until an unlock works again: the
    frames still come, but no grant opens the door; and while its last request for the gallery failed (the
    database away past gallery_max_stale_s, the API unreachable): every face is denied.
    """

    def __init__(self, *, max_camera_silence_s: float, clock: Clock) -> None:
        self._max_camera_silence_s = max_camera_silence_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraHealth] = {}

    def add_camera(self, camera: str, *, door: str) -> None:
        with self._lock:
            now_s = self._clock()
            self._cameras[camera] = CameraHealth(door=door, state_since_s=now_s, added_at_s=now_s)

    def set_state(self, camera: str, state: str, *, pid: int | None = None) -> None:
        """Record a worker's lifecycle state: starting, running, restarting, failed, finished, stopped."""
        with self._lock:
            health = self._cameras[camera]
            health.state, health.state_since_s, health.pid = state, self._clock(), pid

    def __call__(self, event: TelemetryEvent) -> None:
        """Apply one telemetry event (a `Telemetry` callable)."""
        with self._lock:
            health = self._cameras.get(event.camera)
            if health is None:
                return
            match event:
                case FrameSeen():
                    health.last_frame_at_s = self._clock()
                    health.frames += 1
                    if health.state == "starting":
                        health.state = "running"
                case DecisionMade(decision=decision, reason=reason):
                    health.decisions[decision] += 1
                    if reason in DOOR_FAILURES:
                        health.door_state = "failing"
                        health.door_failures += 1
                    elif decision == Decision.granted.value:
                        health.door_state = "ok"
                case OutageSeen():
                    health.outages += 1
                case WorkerRestarted():
                    health.restarts += 1
                case GalleryChecked(is_available=is_available):
                    health.gallery_state = "ok" if is_available else "unavailable"

    def _is_healthy(self, health: CameraHealth, now_s: float) -> bool:
        if health.state not in HEALTHY_STATES:
            return False
        if health.door_state == "failing" or health.gallery_state == "unavailable":
            return False
        if health.state == "finished":
            return True
        seen_at_s = health.last_frame_at_s if health.last_frame_at_s is not None else health.added_at_s
        return now_s - seen_at_s <= self._max_camera_silence_s

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body): every camera's state, last frame age, counts and decisions."""
        now_s = self._clock()
        with self._lock:
            cameras = {
                name: {
                    "door": h.door,
                    "state": h.state,
                    "healthy": self._is_healthy(h, now_s),
                    "pid": h.pid,
                    "last_frame_age_s": None
                    if h.last_frame_at_s is None
                    else round(now_s - h.last_frame_at_s, 3),
                    "frames": h.frames,
                    "outages": h.outages,
                    "restarts": h.restarts,
                    "door_state": h.door_state,
                    "door_failures": h.door_failures,
                    "gallery_state": h.gallery_state,
                    "decisions": dict(h.decisions),
                }
                for name, h in self._cameras.items()
            }
        healthy = all(camera["healthy"] for camera in cameras.values())
        return healthy, {"status": "ok" if healthy else "unhealthy", "cameras": cameras}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a scrape in progress never holds up the gate's shutdown


class MonitoringServer:
    """Serves `/metrics` (Prometheus text) and `/healthz` (JSON; 200 healthy, 503 not) on its own thread.

    `start()` binds (raising OSError when the address is taken); `stop()` may be called any number of
    times. Port 0 in settings means no server, so this class is only built for a real port.
    """

    def __init__(self, *, host: str, port: int, metrics: GateMetrics, health: HealthBoard) -> None:
        self._address = (host, port)
        self._metrics = metrics
        self._health = health
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        return self._server.server_address[1] if self._server is not None else self._address[1]

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _Server(self._address, self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="monitoring-http"
        )
        self._thread.start()
        logger.info("monitoring: /metrics and /healthz on http://%s:%d", self._address[0], self.port)

    def try_start(self) -> bool:
        """Start, or log why not and return False: monitoring is not worth keeping a door shut for."""
        try:
            self.start()
        except OSError as exc:
            logger.error("monitoring disabled: cannot bind %s:%d: %s", *self._address, exc)
            return False
        return True

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        metrics, health = self._metrics, self._health

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, metrics.exposition())
                elif self.path == "/healthz":
                    healthy, body = health.report()
                    self._send(200 if healthy else 503, "application/json", json.dumps(body).encode())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found\n")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
                logger.debug("monitoring: " + format, *args)

        return Handler
