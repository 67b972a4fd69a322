"""Per-camera Prometheus metrics, fed by telemetry events from timing proxies around the gate's stages.

The worker loop (`run_gate`) is not touched: a `CameraProbe` wraps what is passed into it (the
recognizer's detector and embedder, the gallery callable, the frames, the audit callable) and what comes
out of it (the decisions), and turns each into a small telemetry event. Events are plain frozen dataclasses,
so a camera's worker process can send them to the daemon through a queue and an in-process gate can hand
them straight to `GateMetrics`. No event carries an image, an embedding or a name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gate.decision import (
    AMBIGUOUS,
    CAMERA_UNAVAILABLE,
    DOOR_ERROR,
    DOOR_UNCONFIRMED,
    GALLERY_EMPTY,
    GALLERY_UNAVAILABLE,
    LOW_QUALITY,
    MATCH,
    NOT_AUTHORISED,
    RECOGNITION_ERROR,
    UNKNOWN,
    UNKNOWN_DOOR,
    UNKNOWN_MODEL,
)
from gate.errors import GateError
from gate.loop_io import GalleryReader, GateDecision
from gate.pad import PAD_FACE_TOO_CLOSE, PRESENTATION_ATTACK
from gate.stream import CapturedFrame, SourceOutage
from recognition import (
    BgrImage,
    DetectedFace,
    Detector,
    Embedder,
    Match,
    RecognitionError,
    Recognizer,
)
from storage import AuditEventCreate, StorageError

logger = logging.getLogger(__name__)

STAGE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
"""Histogram buckets in seconds: YuNet takes ~20 ms a 640×480 frame and SFace ~27 ms a face here."""

T = TypeVar("T")

AUDITED_REASONS = frozenset(
    {
        MATCH,
        UNKNOWN,
        AMBIGUOUS,
        LOW_QUALITY,
        NOT_AUTHORISED,
        GALLERY_EMPTY,
        UNKNOWN_MODEL,
        GALLERY_UNAVAILABLE,
        UNKNOWN_DOOR,
        RECOGNITION_ERROR,
        CAMERA_UNAVAILABLE,
        DOOR_ERROR,
        DOOR_UNCONFIRMED,
        PRESENTATION_ATTACK,
        PAD_FACE_TOO_CLOSE,
    }
)
"""Every reason the gate audits (worker, door outcome, PAD): the reason label's values, with OTHER_REASON."""
OTHER_REASON = "other"
"""The reason label of an audited reason not in AUDITED_REASONS, so the label set stays bounded."""


@dataclass(frozen=True)
class FrameSeen:
    """The worker took a frame; `lag_s` is how long a live frame waited since capture (None: finite)."""

    camera: str
    lag_s: float | None


@dataclass(frozen=True)
class StageTimed:
    """One call of a stage (detect, embed, match) or one whole frame took `seconds`."""

    camera: str
    stage: str
    seconds: float


@dataclass(frozen=True)
class DecisionMade:
    """A track was decided; ids and numbers only (E5)."""

    camera: str
    door: str
    frame_index: int
    track_id: int
    decision: str
    reason: str
    person_id: int | None
    score: float | None
    threshold: float


@dataclass(frozen=True)
class EventAudited:
    """The gate audited an event: a decision, or a failure denied without one (gallery_unavailable,
    unknown_door, recognition_error, camera_unavailable: no decision comes out of run_gate for those)."""

    camera: str
    door: str
    decision: str
    reason: str


@dataclass(frozen=True)
class OutageSeen:
    """A live source stopped delivering."""

    camera: str
    reason: str


@dataclass(frozen=True)
class GalleryChecked:
    """The gate asked for its gallery and got one (`is_available`) or an error (it denies); sent on change."""

    camera: str
    is_available: bool


@dataclass(frozen=True)
class GalleryConfirmed:
    """The gate's gallery was confirmed upstream `age_s` ago (sent when that changes); it denies every face
    once the age passes `max_stale_s` (a database gate: once the database has been away that long)."""

    camera: str
    age_s: float
    max_stale_s: float


@dataclass(frozen=True)
class JournalPending:
    """The gate's audit journal holds `events` not yet delivered (sent when the count changes)."""

    camera: str
    events: int


@dataclass(frozen=True)
class WorkerRestarted:
    """The daemon restarted a camera's dead worker."""

    camera: str


TelemetryEvent = (
    FrameSeen
    | StageTimed
    | DecisionMade
    | EventAudited
    | OutageSeen
    | WorkerRestarted
    | GalleryChecked
    | GalleryConfirmed
    | JournalPending
)
Telemetry = Callable[[TelemetryEvent], None]
Clock = Callable[[], float]


class GateMetrics:
    """The gate's Prometheus instruments in their own registry (no module-level globals, A5).

    `clock` is the monotonic clock the gallery's age is read on at each scrape, so the age keeps growing
    while no event comes (a worker stuck or dead).
    """

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._gallery_confirmed_at_s: dict[str, float] = {}
        self.registry = CollectorRegistry()
        self.frames = Counter(
            "facegate_frames", "Frames the gate worker processed.", ["camera"], registry=self.registry
        )
        self.stage_seconds = Histogram(
            "facegate_stage_seconds",
            "Latency of one call of a stage (detect, embed, match) or of a whole frame (frame), in seconds.",
            ["camera", "stage"],
            buckets=STAGE_BUCKETS_S,
            registry=self.registry,
        )
        self.decisions = Counter(
            "facegate_decisions",
            "Audited decisions by door, decision and reason, fail-closed denials included (a failure such as "
            "gallery_unavailable is audited at most once per error_audit_interval_s); an unexpected reason "
            "is counted as other.",
            ["camera", "door", "decision", "reason"],
            registry=self.registry,
        )
        self.reader_lag_seconds = Gauge(
            "facegate_reader_lag_seconds",
            "Age of the newest live frame when the worker took it, in seconds.",
            ["camera"],
            registry=self.registry,
        )
        self.outages = Counter(
            "facegate_camera_outages",
            "Times a live source stopped delivering.",
            ["camera"],
            registry=self.registry,
        )
        self.gallery_available = Gauge(
            "facegate_gallery_available",
            "1 when the gate's last request for its gallery got one, 0 when it failed (every face denied).",
            ["camera"],
            registry=self.registry,
        )
        self.gallery_age_seconds = Gauge(
            "facegate_gallery_age_seconds",
            "Seconds since the gate last confirmed its gallery upstream (no sample before the first).",
            ["camera"],
            registry=self.registry,
        )
        self.gallery_max_stale_seconds = Gauge(
            "facegate_gallery_max_stale_seconds",
            "The camera's gallery_max_stale_s: past it without a confirmed gallery, every face is denied.",
            ["camera"],
            registry=self.registry,
        )
        self.journal_events = Gauge(
            "facegate_journal_events",
            "Audit events in the gate's local journal waiting to be delivered to the audit log (or the API).",
            ["camera"],
            registry=self.registry,
        )
        self.restarts = Counter(
            "facegate_worker_restarts",
            "Times a dead camera worker was restarted.",
            ["camera"],
            registry=self.registry,
        )

    def __call__(self, event: TelemetryEvent) -> None:
        """Apply one telemetry event (a `Telemetry` callable)."""
        match event:
            case FrameSeen(camera=camera, lag_s=lag_s):
                self.frames.labels(camera).inc()
                if lag_s is not None:
                    self.reader_lag_seconds.labels(camera).set(lag_s)
            case StageTimed(camera=camera, stage=stage, seconds=seconds):
                self.stage_seconds.labels(camera, stage).observe(seconds)
            case EventAudited(camera=camera, door=door, decision=decision, reason=reason):
                label = reason if reason in AUDITED_REASONS else OTHER_REASON
                self.decisions.labels(camera, door, decision, label).inc()
            case OutageSeen(camera=camera):
                self.outages.labels(camera).inc()
            case WorkerRestarted(camera=camera):
                self.restarts.labels(camera).inc()
            case GalleryChecked(camera=camera, is_available=is_available):
                self.gallery_available.labels(camera).set(1.0 if is_available else 0.0)
            case GalleryConfirmed(camera=camera, age_s=age_s, max_stale_s=max_stale_s):
                self._gallery_confirmed(camera, age_s=age_s, max_stale_s=max_stale_s)
            case JournalPending(camera=camera, events=events):
                self.journal_events.labels(camera).set(events)

    def _gallery_confirmed(self, camera: str, *, age_s: float, max_stale_s: float) -> None:
        """Anchor the confirmation on this clock (the event may cross a queue); read at each scrape."""
        is_new = camera not in self._gallery_confirmed_at_s
        self._gallery_confirmed_at_s[camera] = self._clock() - age_s
        self.gallery_max_stale_seconds.labels(camera).set(max_stale_s)
        if is_new:
            self.gallery_age_seconds.labels(camera).set_function(
                lambda: max(0.0, self._clock() - self._gallery_confirmed_at_s[camera])
            )

    def exposition(self) -> bytes:
        """The Prometheus text format of every instrument."""
        return generate_latest(self.registry)


class TimedDetector:
    """A Detector that reports each detect() call as stage "detect"."""

    def __init__(self, inner: Detector, *, report: Callable[[str, float], None], clock: Clock) -> None:
        self._inner = inner
        self._report = report
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        started_s = self._clock()
        try:
            return self._inner.detect(image)
        finally:
            self._report("detect", self._clock() - started_s)


class TimedEmbedder:
    """An Embedder that reports each embed() call as stage "embed"; other attributes are the inner one's."""

    def __init__(self, inner: Embedder, *, report: Callable[[str, float], None], clock: Clock) -> None:
        self._inner = inner
        self._report = report
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed(self, aligned_face: BgrImage) -> npt.NDArray[np.float32]:
        started_s = self._clock()
        try:
            return self._inner.embed(aligned_face)
        finally:
            self._report("embed", self._clock() - started_s)


class TimedIndex:
    """A gallery that reports each search() as stage "match"."""

    def __init__(self, inner: GalleryReader, *, report: Callable[[str, float], None], clock: Clock) -> None:
        self._inner = inner
        self._report = report
        self._clock = clock

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    def __len__(self) -> int:
        return len(self._inner)

    def lookalikes(self, min_score: float) -> Container[tuple[int, int]]:
        return self._inner.lookalikes(min_score)

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        started_s = self._clock()
        try:
            return self._inner.search(vector, k)
        finally:
            self._report("match", self._clock() - started_s)


class CameraProbe:
    """Instruments one camera's gate from the outside: what goes into run_gate and what comes out."""

    def __init__(self, *, camera: str, door: str, telemetry: Telemetry, clock: Clock) -> None:
        self.camera = camera
        self.door = door
        self._telemetry = telemetry
        self._clock = clock
        self._watched: _Backlog | None = None

    def _report(self, stage: str, seconds: float) -> None:
        self._telemetry(StageTimed(self.camera, stage, seconds))

    def recognizer(self, recognizer: Recognizer) -> Recognizer:
        """The same models and limits behind timing proxies."""
        return Recognizer(
            detector=TimedDetector(recognizer.detector, report=self._report, clock=self._clock),
            embedder=TimedEmbedder(recognizer.embedder, report=self._report, clock=self._clock),
            limits=recognizer.limits,
            index=recognizer.index,
        )

    def gallery(self, gallery: Callable[[], GalleryReader]) -> Callable[[], GalleryReader]:
        """The gallery callable, its index's searches timed.

        One wrapper per gallery object, so the gate still sees the same index until a reload (it caches
        what it derives from a gallery, such as the look-alike pairs, by identity). A change between getting
        a gallery and an error (stale past its limit, unreachable: the gate denies) is sent as GalleryChecked.
        """
        wrapped: dict[str, tuple[GalleryReader, TimedIndex]] = {}
        was_available: list[bool] = []

        def checked(is_available: bool) -> None:
            if was_available != [is_available]:
                was_available[:] = [is_available]
                self._telemetry(GalleryChecked(self.camera, is_available))

        def timed() -> GalleryReader:
            try:
                inner = gallery()
            except (StorageError, RecognitionError, GateError):  # what run_gate denies as gallery_unavailable
                checked(False)
                raise
            checked(True)
            last = wrapped.get("last")
            if last is None or last[0] is not inner:
                last = wrapped["last"] = (inner, TimedIndex(inner, report=self._report, clock=self._clock))
            return last[1]

        return timed

    def record(self, record: Callable[[AuditEventCreate], None]) -> Callable[[AuditEventCreate], None]:
        """The audit callable; each event it took is reported by decision and reason (EventAudited).

        Every decision is audited once, and so is each failure the gate denies without a decision
        (gallery_unavailable, unknown_door, recognition_error, camera_unavailable), so counting here counts
        both. An event the callable refused (it raised) is not counted.
        """

        def audited(event: AuditEventCreate) -> None:
            record(event)
            self._telemetry(EventAudited(self.camera, self.door, event.decision.value, event.reason))

        return audited

    def watch(
        self,
        *,
        gallery_confirmed_at_s: Callable[[], float | None],
        journal_events: Callable[[], int],
        max_stale_s: float,
        monotonic: Clock,
    ) -> None:
        """Report the gallery's confirmation and the journal's backlog as frames come (each on change).

        Args:
            gallery_confirmed_at_s: when the upstream last confirmed the gallery, on `monotonic`.
            journal_events: the audit journal's undelivered events.
            max_stale_s: the gallery_max_stale_s the gate denies past.
        """
        self._watched = _Backlog(gallery_confirmed_at_s, journal_events, max_stale_s, monotonic)

    def _report_backlog(self) -> None:
        watched = self._watched
        if watched is None:
            return
        confirmed_at_s, events = watched.confirmed_at_s(), watched.journal_events()
        if confirmed_at_s is not None and confirmed_at_s != watched.last_confirmed_at_s:
            watched.last_confirmed_at_s = confirmed_at_s
            age_s = watched.monotonic() - confirmed_at_s
            self._telemetry(GalleryConfirmed(self.camera, age_s, watched.max_stale_s))
        if events != watched.last_events:
            watched.last_events = events
            self._telemetry(JournalPending(self.camera, events))

    def frames(self, items: Iterable[T]) -> Iterator[T]:
        """The frames unchanged; each is counted, its reader lag and its whole processing time reported, and
        the watched backlog (see `watch`) reported on change."""
        for item in items:
            self._report_backlog()
            if isinstance(item, SourceOutage):
                self._telemetry(OutageSeen(self.camera, item.reason))
                yield item
                continue
            taken_s = self._clock()
            lag_s = taken_s - item.captured_at_s if isinstance(item, CapturedFrame) else None
            self._telemetry(FrameSeen(self.camera, lag_s))
            yield item
            self._report("frame", self._clock() - taken_s)

    def decisions(self, decisions: Iterable[GateDecision]) -> Iterator[GateDecision]:
        """The decisions unchanged; each is reported (DecisionMade) for the health board and decision lines.

        The metrics count decisions from the audit callable (`record`), which also sees the failures that
        yield none.
        """
        for decision in decisions:
            verdict = decision.verdict
            self._telemetry(
                DecisionMade(
                    camera=self.camera,
                    door=self.door,
                    frame_index=decision.frame_index,
                    track_id=decision.track_id,
                    decision=verdict.decision.value,
                    reason=verdict.reason,
                    person_id=verdict.person_id,
                    score=None if verdict.score is None else float(verdict.score),
                    threshold=float(decision.threshold),
                )
            )
            yield decision


@dataclass
class _Backlog:
    """What `CameraProbe.watch` reads per frame, and what it last reported."""

    confirmed_at_s: Callable[[], float | None]
    journal_events: Callable[[], int]
    max_stale_s: float
    monotonic: Clock
    last_confirmed_at_s: float | None = None
    last_events: int | None = None


def fan_out(*sinks: Telemetry) -> Telemetry:
    """One Telemetry callable that hands each event to every sink, in order."""

    def telemetry(event: TelemetryEvent) -> None:
        for sink in sinks:
            sink(event)

    return telemetry
