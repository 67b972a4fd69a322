"""The gate's composition root: settings → database, keyring, models → gallery, door, frames, journal, loop.

`python -m gate` (gate/__main__.py) and `facegate gate` run the functions here; a camera worker
process of the daemon starts at `run_camera`, so it imports the gate's own packages and never `api`.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TypeVar

from gate.camera import redacted_source
from gate.config_file import CameraSpec, DaemonSettings, GatesConfig
from gate.daemon import GateDaemon, GracefulStop, StopRequested
from gate.decision import MATCH
from gate.delivery import EventSink, JournalDeliverer
from gate.errors import CameraUnavailable
from gate.health import HealthBoard, MonitoringServer
from gate.journal import EventJournal, default_journal_dir
from gate.loop_io import GateDecision
from gate.metrics import CameraProbe, DecisionMade, GateMetrics, Telemetry, TelemetryEvent, fan_out
from gate.registry import build_door
from gate.runtime import EdgeRuntime, GateRuntime, gallery_source_for, opened_runtime
from gate.settings import GateSettings
from gate.stream import SourceOutage, open_frames
from gate.tracker import first_track_id
from gate.worker import run_gate
from recognition import (
    PresentationAttackDetector,
    RecognitionSettings,
    build_pad_detector,
    limit_search_threads,
)
from storage import (
    Decision,
    Engine,
    StorageError,
    StorageSettings,
    get_person,
    open_database,
    session_scope,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
PrintLine = Callable[[str], None]
"""Where the gate writes one line an operator reads per decision (stdout, or a CLI's console)."""

DECISION_FIELDS = ("frame_index", "track_id", "decision", "reason", "person_id", "score", "threshold")


@contextmanager
def audit_journal(
    home: Path, *, sink: EventSink, door: str, settings: GateSettings
) -> Iterator[JournalDeliverer]:
    """Every gate event is fsync'd to the local journal first; a thread delivers it to the audit log.

    So the gate keeps deciding and auditing while the audit log is away, and a killed gate loses no
    event it journalled; at exit it waits up to journal_drain_timeout_s for delivery.
    """
    directory = settings.journal_dir or default_journal_dir(home, door)
    with EventJournal(directory, utc_now=lambda: datetime.now(UTC)) as journal:
        deliverer = JournalDeliverer(
            journal,
            sink=sink,
            retry_initial_s=settings.journal_retry_initial_s,
            retry_max_s=settings.journal_retry_max_s,
            monotonic=time.monotonic,
            error_log_interval_s=settings.decision.error_audit_interval_s,
        )
        deliverer.start()
        try:
            yield deliverer
        finally:
            deliverer.stop(drain_timeout_s=settings.journal_drain_timeout_s)


def set_process_threading(settings: GateSettings) -> None:
    """The gate process's FAISS threads (this thread's) and Python's thread switch interval.

    At 1M templates a full reload in the background raised the frame loop's p99 from 7.3 to 38.1 ms
    with Python's 5 ms interval and to 15.7 ms with 1 ms (bench/scale_sync.py, BENCHMARKS.md).
    """
    limit_search_threads(settings.search_threads)
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)


def gate_decisions(
    runtime: GateRuntime | EdgeRuntime,
    *,
    source: str,
    door: str,
    settings: GateSettings,
    probe: CameraProbe | None = None,
    stop: GracefulStop | None = None,
    pad: PresentationAttackDetector | None = None,
    camera: str | None = None,
) -> Iterator[GateDecision]:
    """Wire the gate to its gallery source and the configured door; run it over a source until it ends.

    A live source (camera index, stream URL) never ends on its own: it is read for its newest frame
    and reopened after an outage until the process is interrupted or `stop` is requested. A `probe`
    times the stages and counts frames and audited decisions from outside `run_gate`. `pad` replaces the PAD
    stage built from the card the model directories hold (the demo brings a card of its own). `camera` is
    the gates file's name of the camera (None in the single-camera form): a refusal to start names it.
    """
    recognizer = runtime.recognizer if probe is None else probe.recognizer(runtime.recognizer)
    set_process_threading(settings)
    upstream = gallery_source_for(runtime, door=door, settings=settings)
    upstream.start()
    actuator = build_door(settings.door, utc_now=lambda: datetime.now(UTC), monotonic=time.monotonic)
    pad = door_pad_detector(runtime, settings) if pad is None else pad
    frames = open_frames(
        source,
        decode=runtime.recognizer.decode,
        monotonic=time.monotonic,
        timeout_s=settings.camera_timeout_s,
        reconnect_initial_s=settings.camera_reconnect_initial_s,
        reconnect_max_s=settings.camera_reconnect_max_s,
        error_log_interval_s=settings.decision.error_audit_interval_s,
    )
    journal = audit_journal(runtime.storage.home, sink=upstream.event_sink(), door=door, settings=settings)
    try:
        with frames as items, journal as audit:
            if probe is not None:
                probe.watch(
                    gallery_confirmed_at_s=upstream.gallery_confirmed_at_s,
                    journal_events=lambda: audit.pending_count,
                    max_stale_s=settings.gallery_max_stale_s,
                    monotonic=time.monotonic,
                )
            decisions = run_gate(
                _feed(_opened(items, source=source), probe=probe, stop=stop),
                door=door,
                source_name=redacted_source(source),
                recognizer=recognizer,
                gallery=upstream.gallery if probe is None else probe.gallery(upstream.gallery),
                access=upstream.access,
                actuator=actuator,
                record=audit.record if probe is None else probe.record(audit.record),
                settings=settings,
                monotonic=time.monotonic,
                utc_now=lambda: datetime.now(UTC),
                pad=pad,
                camera=camera,
                first_track_id=first_track_id(datetime.now(UTC)),  # a restart never reuses an earlier id
            )
            yield from decisions if probe is None else probe.decisions(decisions)
    finally:
        actuator.close()
        upstream.close()


def door_pad_detector(
    runtime: GateRuntime | EdgeRuntime, settings: GateSettings
) -> PresentationAttackDetector | None:
    """The PAD stage when the door's PAD policy needs it (raises ModelLoadError without its model)."""
    if settings.pad.policy == "off":
        return None
    return build_pad_detector(RecognitionSettings(), cache_dir=runtime.storage.home / "models")


def _opened(items: Iterable[T], *, source: str) -> Iterator[T | SourceOutage]:
    """The items; a source that cannot be opened (a missing file: a live one is retried by its reader) first
    hands run_gate an outage, audited camera_unavailable as a live camera's is, then raises.

    Raises:
        CameraUnavailable: the source cannot be opened (the daemon's watchdog restarts the worker).
    """
    iterator = iter(items)
    try:
        first = next(iterator)
    except StopIteration:
        return
    except CameraUnavailable:
        yield SourceOutage(redacted_source(source), time.monotonic(), "open_failed")
        raise
    yield first
    yield from iterator


def _feed(items: Iterable[T], *, probe: CameraProbe | None, stop: GracefulStop | None) -> Iterable[T]:
    """The frames as run_gate gets them: counted and timed by the probe, ended by the stop."""
    counted = items if probe is None else probe.frames(items)
    return counted if stop is None else stop.frames(counted)


def decision_line(
    engine: Engine | None,
    *,
    frame_index: int,
    track_id: int,
    decision: str,
    reason: str,
    person_id: int | None,
    score: float | None,
    threshold: float,
) -> str:
    """One line an operator reads: what was decided, for whom, and on which numbers."""
    numbers = f"score {'-' if score is None else f'{score:.3f}'}, threshold {threshold:.3f}"
    if decision == Decision.granted.value and person_id is not None:
        who = _who(engine, person_id) + ("" if reason == MATCH else f", {reason}")  # door_unconfirmed
        return f"frame {frame_index:4d} track {track_id:3d}: granted  {who}, {numbers}"
    return f"frame {frame_index:4d} track {track_id:3d}: denied   {reason}, {numbers}"


def _who(engine: Engine | None, person_id: int) -> str:
    """The person's name for the operator, or only their id when no database can say (edge, outage)."""
    if engine is None:
        return f"person {person_id}"
    try:
        with session_scope(engine) as session:
            return f"{get_person(session, person_id).name} (person {person_id})"
    except StorageError:
        logger.debug("name of person %d unavailable; printing the id only", person_id)
        return f"person {person_id}"


def describe(runtime: GateRuntime | EdgeRuntime, decision: GateDecision) -> str:
    """`decision_line` of a decision of this process."""
    verdict = decision.verdict
    return decision_line(
        runtime.engine if isinstance(runtime, GateRuntime) else None,
        frame_index=decision.frame_index,
        track_id=decision.track_id,
        decision=verdict.decision.value,
        reason=verdict.reason,
        person_id=verdict.person_id,
        score=verdict.score,
        threshold=decision.threshold,
    )


def run_camera(camera: CameraSpec, telemetry: Telemetry, stop: GracefulStop) -> None:
    """A camera worker process of the daemon: its own models, gallery source and door."""
    with opened_runtime(camera.settings, StorageSettings()) as runtime:
        _camera_loop(runtime, camera, telemetry, stop)


def _camera_loop(
    runtime: GateRuntime | EdgeRuntime, camera: CameraSpec, telemetry: Telemetry, stop: GracefulStop
) -> None:
    probe = CameraProbe(camera=camera.name, door=camera.door, telemetry=telemetry, clock=time.monotonic)
    for _ in gate_decisions(
        runtime,
        source=camera.source,
        door=camera.door,
        settings=camera.settings,
        probe=probe,
        stop=stop,
        camera=camera.name,
    ):
        pass  # the parent prints and counts each decision from its telemetry


@contextmanager
def _signals_call(handler: Callable[[int, FrameType | None], None], *signums: int) -> Iterator[None]:
    """Install `handler` for the signals while the block runs, then restore the previous handlers."""
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _monitoring(settings: DaemonSettings) -> tuple[GateMetrics, HealthBoard, MonitoringServer | None]:
    metrics = GateMetrics()
    health = HealthBoard(max_camera_silence_s=settings.max_camera_silence_s, clock=time.monotonic)
    if settings.http_port == 0:
        return metrics, health, None
    return (
        metrics,
        health,
        MonitoringServer(host=settings.http_host, port=settings.http_port, metrics=metrics, health=health),
    )


def run_one_camera(*, source: str, door: str, daemon: DaemonSettings, print_line: PrintLine) -> None:
    """The single-camera form, in this process; SIGTERM ends it at the next frame."""
    settings = GateSettings()
    with opened_runtime(settings, StorageSettings()) as runtime:
        metrics, health, server = _monitoring(daemon)
        health.add_camera(door, door=door)
        probe = CameraProbe(camera=door, door=door, telemetry=fan_out(metrics, health), clock=time.monotonic)
        stop = GracefulStop()
        if server is not None and not server.try_start():
            server = None
        try:
            with _signals_call(stop.request, signal.SIGTERM):
                for decision in gate_decisions(
                    runtime, source=source, door=door, settings=settings, probe=probe, stop=stop
                ):
                    print_line(describe(runtime, decision))
        except StopRequested:
            logger.info("gate stopped")
        finally:
            if server is not None:
                server.stop()


def run_config_file(config: GatesConfig, *, is_verbose: bool, print_line: PrintLine) -> None:
    """The cameras of a gates file, each in its own worker process; this process prints every decision."""
    has_database = any(c.settings.gallery_source.kind == "database" for c in config.cameras)
    engine = open_database(StorageSettings()) if has_database else None  # for names in decision lines
    try:
        _run_daemon(config, engine, is_verbose=is_verbose, print_line=print_line)
    finally:
        if engine is not None:
            engine.dispose()  # the workers have stopped; no decision line is printed after this


def _run_daemon(
    config: GatesConfig, engine: Engine | None, *, is_verbose: bool, print_line: PrintLine
) -> None:
    """The daemon over the gates file's cameras until they end or SIGTERM/SIGINT; `engine` names people."""
    metrics, health, server = _monitoring(config.daemon)

    def telemetry(event: TelemetryEvent) -> None:
        metrics(event)
        health(event)
        if isinstance(event, DecisionMade):
            fields = {name: getattr(event, name) for name in DECISION_FIELDS}
            print_line(f"{event.camera}: {decision_line(engine, **fields)}")

    daemon = GateDaemon(
        cameras=config.cameras,
        worker_main=run_camera,
        settings=config.daemon,
        telemetry=telemetry,
        health=health,
        server=server,
        clock=time.monotonic,
        is_verbose=is_verbose,
    )
    with _signals_call(daemon.stop, signal.SIGTERM, signal.SIGINT):
        daemon.run()
