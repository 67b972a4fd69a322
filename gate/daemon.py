"""Runs several cameras on one host: one worker process per camera (G1), ordered start and stop (G4).

Why processes: recognition is CPU-bound Python around OpenCV and FAISS calls, so cameras in threads
would share one interpreter lock, and a crash or leak in one camera's native code would take the
others down. Each worker is a `spawn`ed process (the parent runs an HTTP thread, which `fork` does
not copy safely) that builds its own models and database engine and sends telemetry events back
through its own queue; the parent keeps the metrics, the health board and a watchdog that restarts a
dead worker after `restart_initial_s`, doubling up to `restart_max_s`. A worker that keeps dying is
logged by its first exit (the worker's traceback and the parent's line), a count of exits per the
camera's `decision.error_audit_interval_s`, and its end, once a restarted worker has sent telemetry
events (it reached its frame loop) for `restart_max_s`, when its backoff resets too (gate/failure_log.py):
not a traceback and a line a restart, nor an end and a new start for a worker that sends one event and dies.
A worker learns whether its death would begin a new failure from an event the parent sets while that log
is closed, so only the first death of a failure logs its traceback.

Stopping: SIGTERM or SIGINT to the parent asks it to stop; it sends SIGTERM to every worker in reverse
start order, then waits for them together, each for its stop budget (`stop_budget_s`): its camera's
`camera_timeout_s` and a little more (a reader blocked in an open or a read returns within it) plus its
`journal_drain_timeout_s` (the journal's last delivery) plus the daemon's `stop_timeout_s` for the rest;
a worker still alive then is killed. Then it stops the monitoring server. In a worker, SIGTERM ends the
frame loop at the next frame (`GracefulStop`), so the door actuator, the journal and the reader are closed.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, TypeVar

from gate.config_file import CameraSpec, DaemonSettings
from gate.failure_log import FailureLog, FailureTexts
from gate.health import HealthBoard, MonitoringServer
from gate.logging_format import LogFormat, configure_gate_logging
from gate.metrics import Clock, Telemetry, TelemetryEvent, WorkerRestarted
from gate.settings import GateSettings
from gate.stream import capture_stop_wait_s, is_live_source

logger = logging.getLogger(__name__)

T = TypeVar("T")
LOOP_S = 0.05

_WORKER_FAILING = FailureTexts(
    first="%(where)s: worker exited (%(cause)s); restarting it with backoff",
    still="%(where)s: worker still failing: %(count)d restarts in the last %(span_s).0f s",
    ended="%(where)s: worker up again after %(span_s).1f s (%(count)d exits)",
)


class StopRequested(BaseException):
    """Raised by `GracefulStop` out of a blocked frame wait; a BaseException: `except Exception` skips it."""


class GracefulStop:
    """Ends a frame loop cleanly when `request()` is called, typically from a SIGTERM handler.

    Between frames the loop simply ends at the next frame boundary. While it is blocked waiting for
    a frame (a live source in an outage delivers none) `request()` raises StopRequested there, which
    unwinds through the reader's and the door's context managers. It never interrupts recognition,
    a door unlock or an audit write.
    """

    def __init__(self) -> None:
        self.is_stopping = False
        self._is_waiting = False

    def request(self, _signum: int = 0, _frame: FrameType | None = None) -> None:
        self.is_stopping = True
        if self._is_waiting:
            raise StopRequested

    def frames(self, items: Iterable[T]) -> Iterator[T]:
        """The items until the source ends or a stop is requested."""
        iterator = iter(items)
        while not self.is_stopping:
            self._is_waiting = True
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self._is_waiting = False
            yield item


WorkerMain = Callable[[CameraSpec, Telemetry, GracefulStop], None]
"""Runs one camera's gate until its source ends or the stop is requested (a picklable top-level function)."""


def _stop_with_parent() -> None:
    """SIGTERM this worker when its daemon dies, so an orphan never drives a door unsupervised."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_process(
    worker_main: WorkerMain,
    camera: CameraSpec,
    events: Any,
    is_verbose: bool,
    log_format: LogFormat,
    settled: multiprocessing.synchronize.Event,
) -> None:
    """Entry point of a camera's process: signals, logging, then the gate; exit code 1 on failure.

    A failure is logged with its traceback when `settled` is set (the parent's log of this worker's exits
    is closed: this death begins a new failure, also after a restart that has run for `restart_max_s`);
    otherwise it is one more death of an ongoing failure, a restart that failed again before it ran or soon
    after, logged at debug level: the parent counts its exits.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent coordinates
    stop = GracefulStop()
    signal.signal(signal.SIGTERM, stop.request)
    configure_gate_logging(is_verbose=is_verbose, log_format=log_format, camera=camera.name, door=camera.door)
    threading.Thread(target=_stop_with_parent, name="parent-watch", daemon=True).start()
    try:
        worker_main(camera, events.put, stop)
    except StopRequested:
        logger.info("camera %s stopped", camera.name)
    except Exception:  # the top of the worker (E4): log with traceback; the parent's watchdog restarts it
        level = logging.ERROR if settled.is_set() else logging.DEBUG
        logger.log(level, "camera %s: worker failed", camera.name, exc_info=True)
        raise SystemExit(1) from None
    finally:
        events.close()
        events.join_thread()


def stop_budget_s(camera: GateSettings, daemon: DaemonSettings) -> float:
    """How long a camera's worker gets after SIGTERM before it is killed, in s.

    Its journal waits up to `journal_drain_timeout_s` for the last delivery; its reader may be blocked in
    an open or a read, which returns within `camera_timeout_s` and a little more (`capture_stop_wait_s`);
    `stop_timeout_s` is for the rest (the door, the gallery source, the database engine). A budget of
    `stop_timeout_s` alone (10 s, as the default camera timeout) had a worker stopped while opening a
    camera killed.
    """
    reader_s = capture_stop_wait_s(camera.camera_timeout_s)
    return camera.journal_drain_timeout_s + reader_s + daemon.stop_timeout_s


@dataclass
class _Worker:
    camera: CameraSpec
    failures: FailureLog  # its exits until a restarted worker has sent events for restart_max_s
    settled: multiprocessing.synchronize.Event  # set while `failures` is closed; its workers read it
    process: BaseProcess | None = None
    events: Any = None
    started_at_s: float = 0.0
    restart_at_s: float | None = None
    backoff_s: float = 0.0
    is_finished: bool = False


def _worker_failures(camera: CameraSpec, clock: Clock, *, settle_s: float) -> FailureLog:
    """The log of one camera's worker exits, counted once per the camera's error_audit_interval_s; it ends
    once a restarted worker has sent events for `settle_s`, so a worker that sends one and dies, again and
    again, is one failure, not an end and a new start a restart."""
    return FailureLog(
        logger,
        _WORKER_FAILING,
        interval_s=camera.settings.decision.error_audit_interval_s,
        where=f"camera {camera.name}",
        monotonic=clock,
        settle_s=settle_s,
    )


class GateDaemon:
    """Starts the monitoring server, then each camera's worker in order; watches, restarts, stops.

    `run()` blocks until `stop()` is called (a signal handler may call it) or every camera's finite
    source has ended. `stop()` only sets a flag, so it is safe from a signal handler and idempotent.
    """

    def __init__(
        self,
        *,
        cameras: list[CameraSpec],
        worker_main: WorkerMain,
        settings: DaemonSettings,
        telemetry: Telemetry,
        health: HealthBoard,
        server: MonitoringServer | None,
        clock: Clock,
        is_verbose: bool,
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._workers = [
            _Worker(
                camera,
                # the end is logged when the backoff resets: once a worker stayed up restart_max_s
                _worker_failures(camera, clock, settle_s=settings.restart_max_s),
                self._context.Event(),
                backoff_s=settings.restart_initial_s,
            )
            for camera in cameras
        ]
        for worker in self._workers:
            worker.settled.set()
        self._worker_main = worker_main
        self._settings = settings
        self._telemetry = telemetry
        self._health = health
        self._server = server
        self._clock = clock
        self._is_verbose = is_verbose
        self._is_stopping = False
        for camera in cameras:
            health.add_camera(camera.name, door=camera.door)

    def stop(self, _signum: int = 0, _frame: FrameType | None = None) -> None:
        self._is_stopping = True

    def run(self) -> None:
        if self._server is not None and not self._server.try_start():
            self._server = None
        try:
            for worker in self._workers:
                self._start(worker)
            while not self._is_stopping and not all(w.is_finished for w in self._workers):
                for worker in self._workers:
                    self._drain(worker)
                    self._watch(worker)
                time.sleep(LOOP_S)
        finally:
            self._shutdown()

    def _start(self, worker: _Worker) -> None:
        worker.events = self._context.Queue()
        worker.process = self._context.Process(
            target=_worker_process,
            args=(
                self._worker_main,
                worker.camera,
                worker.events,
                self._is_verbose,
                self._settings.log_format,
                worker.settled,
            ),
            name=f"gate:{worker.camera.name}",
        )
        worker.process.start()
        worker.started_at_s, worker.restart_at_s = self._clock(), None
        self._health.set_state(worker.camera.name, "starting", pid=worker.process.pid)
        logger.info("camera %s: worker started (pid %s)", worker.camera.name, worker.process.pid)

    def _drain(self, worker: _Worker) -> None:
        while worker.events is not None:
            try:
                event: TelemetryEvent = worker.events.get_nowait()
            except queue.Empty:
                return
            if worker.failures.is_failing:
                worker.failures.recovered()  # it reached its frame loop: ends the failure after restart_max_s
                if not worker.failures.is_failing:
                    worker.settled.set()  # its next death is a new failure: the worker logs its traceback
            self._telemetry(event)

    def _watch(self, worker: _Worker) -> None:
        """Notice a worker that ended; restart it after its backoff unless its finite source is done."""
        if worker.process is None:
            if worker.restart_at_s is not None and self._clock() >= worker.restart_at_s:
                self._start(worker)
                self._telemetry(WorkerRestarted(worker.camera.name))
            return
        if worker.process.is_alive():
            return
        self._drain(worker)
        code, worker.process = worker.process.exitcode, None
        name = worker.camera.name
        if code == 0 and not is_live_source(worker.camera.source):
            worker.is_finished = True
            self._health.set_state(name, "finished")
            worker.failures.recovered()
            logger.info("camera %s: source ended", name)
            return
        now_s = self._clock()
        if now_s - worker.started_at_s >= self._settings.restart_max_s:
            worker.backoff_s = self._settings.restart_initial_s
        worker.restart_at_s = now_s + worker.backoff_s
        self._health.set_state(name, "restarting")
        worker.failures.failed(f"exit code {code}")
        worker.settled.clear()
        logger.debug("camera %s: exit code %s; restarting in %.1f s", name, code, worker.backoff_s)
        worker.backoff_s = min(worker.backoff_s * 2.0, self._settings.restart_max_s)

    def _wait_stopped(self, worker: _Worker, deadline_s: float, *, stopping: list[_Worker]) -> None:
        """Wait until the SIGTERM'd worker has exited or `deadline_s`, then kill it if it is still alive;
        meanwhile drain every `stopping` worker: one flushing its queue at exit must not block on a pipe."""
        process = worker.process
        if process is not None:
            while process.is_alive() and self._clock() < deadline_s:
                for other in stopping:
                    self._drain(other)
                process.join(LOOP_S)
            if process.is_alive():
                budget_s = stop_budget_s(worker.camera.settings, self._settings)
                logger.error("camera %s: did not stop in %.1f s; killed", worker.camera.name, budget_s)
                process.kill()
                process.join()
        self._drain(worker)
        if worker.process is not None:
            self._health.set_state(worker.camera.name, "stopped")
        worker.process, worker.events = None, None

    def _shutdown(self) -> None:
        """SIGTERM the workers in reverse start order, wait for them together (the stop takes the longest
        budget, not their sum), then stop the monitoring server; safe to repeat."""
        stopping = list(reversed(self._workers))
        deadlines_s = []
        for worker in stopping:
            if worker.process is not None and worker.process.is_alive():
                worker.process.terminate()
            deadlines_s.append(self._clock() + stop_budget_s(worker.camera.settings, self._settings))
        for worker, deadline_s in zip(stopping, deadlines_s, strict=True):
            self._wait_stopped(worker, deadline_s, stopping=stopping)
        if self._server is not None:
            self._server.stop()
        logger.info("gate daemon stopped")
