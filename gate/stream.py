"""Live streams: a capture thread keeps only the newest frame and reopens a dropped stream with backoff.

Which sources are live is decided once, in `is_live_source`: a device index ("0"), a device path
(/dev/video0) or a stream URL (rtsp://, rtsps://, http(s)://, rtmp://, udp://, srt://: any scheme but
file://) is live and read through `LatestFrameReader`; a video file (a local path or a file:// URL) or an
image folder is finite and read frame by frame, in order, so replays and tests see every frame.

A live source in an outage is retried with backoff; the outage is logged by its start (a reader that
raised: with its traceback), a count of failed reopen attempts per `error_log_interval_s` and its end
(gate/failure_log.py), not with a line or a traceback per retry. A source that comes back and drops
again before it delivered for `error_log_interval_s` (a flapping camera) continues its outage in the log:
its drops are counted there, and its end is logged once the source stayed up for that long. Its backoff
goes on doubling across such flaps too, back to the shortest wait only once it stayed up that long.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gate.camera import FrameSource, ImageFolderFrameSource, OpencvFrameSource, is_url
from gate.errors import CameraStalled, CameraUnavailable
from gate.failure_log import FailureLog, FailureTexts
from recognition import BgrImage

logger = logging.getLogger(__name__)

POLL_S = 0.1
CAPTURE_RETURN_S = 2.0
"""How much later than `timeout_s` an open or read cut off by it returns: FFmpeg's interrupt fires at the
timeout and the open then unwinds (6.06-6.09 s for 6 s, against a camera that accepts and never answers)."""


def capture_stop_wait_s(timeout_s: float) -> float:
    """How long a stopping reader waits for its capture, in s: an open or a read that keeps to the camera
    timeout returns within it, so a worker stopped in the middle of one ends without leaving its thread."""
    return timeout_s + CAPTURE_RETURN_S


_UNAVAILABLE = FailureTexts(
    first="source %(where)s: unavailable (%(cause)s); reopening it with backoff",
    still="source %(where)s: still unavailable: %(count)d reopen attempts failed in the last %(span_s).0f s "
    "(last: %(latest)s)",
    ended="source %(where)s: recovered after %(span_s).1f s (%(count)d attempts failed)",
    level=logging.WARNING,  # a camera or its network is away: not a fault of the gate
)
_READER_FAILED = FailureTexts(
    first="source %(where)s: reader failed (%(cause)s); reopening it with backoff",
    still="source %(where)s: reader still failing: %(count)d reopen attempts failed "
    "in the last %(span_s).0f s (last: %(latest)s)",
    ended="source %(where)s: recovered after %(span_s).1f s (%(count)d attempts failed)",
)


@dataclass(frozen=True)
class CapturedFrame:
    """A frame with the monotonic time, in seconds, at which the reader thread received it."""

    image: BgrImage
    captured_at_s: float


@dataclass(frozen=True)
class SourceOutage:
    """A live source stopped delivering at `started_at_s`: open_failed, read_timeout, ended or error.

    `is_flap`: the source came back after an outage and dropped again before its recovery was logged,
    so the reader's log counts this outage in the earlier one's instead of starting a new one.
    """

    source: str
    started_at_s: float
    reason: str
    is_flap: bool = False


class LatestFrameReader:
    """Reads a FrameSource on its own thread into a one-slot buffer (G1: capture never waits).

    A frame replaced before the consumer took it is counted in `dropped_frames`. When the source
    fails or ends it is reopened after `reconnect_initial_s`, doubling up to `reconnect_max_s`, and
    back to `reconnect_initial_s` only after a connection delivered for `stable_s` (not after a flap);
    each outage is handed to the consumer once, as a SourceOutage, before any later frame, and
    logged by its start, a count of failed attempts per `error_log_interval_s` and its end, once
    frames kept coming for `stable_s` (outages between count as failed attempts of the first).
    `stop()` may be called any number of times; it joins the thread, and closing the source's
    generator releases the capture. It waits for the thread at most `stop_wait_s` (None: until it ends): a
    capture blocked in a call that ignores the camera's timeout (FFmpeg resolving a host name waits as long
    as the system's resolver does) is left to end on its own, releasing the capture then; a daemon thread, it
    does not hold up the process's exit.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        monotonic: Callable[[], float],
        reconnect_initial_s: float,
        reconnect_max_s: float,
        error_log_interval_s: float = 30.0,
        stable_s: float = 30.0,
        stop_wait_s: float | None = None,
    ) -> None:
        self.source = source
        self._stop_wait_s = stop_wait_s
        self._monotonic = monotonic
        self._reconnect_initial_s = reconnect_initial_s
        self._reconnect_max_s = reconnect_max_s
        self._error_log_interval_s = error_log_interval_s
        self._stable_s = stable_s
        self._failures: FailureLog | None = None  # the current (or last) outage's log; None before the first
        self._causes_told: set[str] = set()  # the failed opens' causes the current outage's lines named
        self._changed = threading.Condition()
        self._latest: CapturedFrame | None = None
        self._outages: deque[SourceOutage] = deque()
        self._outage_started_at_s: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped_frames = 0
        self.outage_count = 0
        self.error_count = 0

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"frames:{self.source.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop reading, join the thread (at most `stop_wait_s`), release the source; safe to call again."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is None:
            return
        self._thread.join(self._stop_wait_s)
        if self._thread.is_alive():
            logger.warning(
                "source %s: its capture is still blocked %.1f s after the stop (a call that ignores the "
                "camera timeout, such as a host name lookup); not waiting for it",
                self.source.name,
                self._stop_wait_s,
            )

    def __enter__(self) -> LatestFrameReader:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def poll(self, timeout_s: float) -> CapturedFrame | SourceOutage | None:
        """The oldest unreported outage, else the newest frame not yet taken; None after timeout_s."""
        with self._changed:
            self._changed.wait_for(
                lambda: bool(self._outages) or self._latest is not None or self._stopping.is_set(),
                timeout=timeout_s,
            )
            if self._outages:
                return self._outages.popleft()
            frame, self._latest = self._latest, None
            return frame

    def __iter__(self) -> Iterator[CapturedFrame | SourceOutage]:
        """Frames and outages as they come, until stop() is called."""
        while not self._stopping.is_set():
            item = self.poll(POLL_S)
            if item is not None:
                yield item

    def _run(self) -> None:
        backoff_s = self._reconnect_initial_s
        while not self._stopping.is_set():
            up_s, reason, error, cause = self._pump()
            if self._stopping.is_set():
                return
            if up_s is not None and up_s >= self._stable_s:  # it stayed up, as its log's end needs: no flap
                backoff_s = self._reconnect_initial_s
            self._report_outage(reason, error, cause=cause)
            logger.debug("source %s: reopening in %.2f s (%s)", self.source.name, backoff_s, reason)
            if self._stopping.wait(backoff_s):
                return
            backoff_s = min(backoff_s * 2.0, self._reconnect_max_s)

    def _pump(self) -> tuple[float | None, str, Exception | None, str | None]:
        """Read one connection until it fails; (s from its first frame to its last, None without a frame;
        why it stopped; what it raised; why it did not open, when the source could say)."""
        frames = self.source.frames()
        first_at_s: float | None = None
        up_s: float | None = None
        try:
            for image in frames:
                if self._stopping.is_set():
                    return up_s, "stopped", None, None
                at_s = self._publish(image)
                first_at_s = at_s if first_at_s is None else first_at_s
                up_s = at_s - first_at_s
        except CameraStalled:
            return up_s, "read_timeout", None, None
        except CameraUnavailable as exc:
            return up_s, "open_failed", None, exc.cause
        except Exception as exc:  # the top of the capture thread's loop (E4): count; logged as the outage
            self.error_count += 1
            return up_s, "error", exc, None
        finally:
            frames.close()
        return up_s, "ended", None, None

    def _publish(self, image: BgrImage) -> float:
        """Hand the frame over; when it was captured (monotonic s)."""
        captured = CapturedFrame(image=image, captured_at_s=self._monotonic())
        if self._failures is not None:
            self._failures.recovered()  # logs the end of an outage once frames kept coming for stable_s
        with self._changed:
            self._outage_started_at_s = None
            if self._latest is not None:
                self.dropped_frames += 1
            self._latest = captured
            self._changed.notify_all()
        return captured.captured_at_s

    def _report_outage(self, reason: str, error: Exception | None, *, cause: str | None = None) -> None:
        """Count a failed connection: the first of an outage starts it, later ones are its retries.

        An outage that begins before the last one's end was logged (a flap) is logged as that one's retry.
        A failed open's `cause` (an http(s) camera's answer) is named once per outage: in the outage's first
        line, or in a line of its own the first time a retry meets it.
        """
        is_ongoing = self._failures is not None and self._failures.is_failing  # a retry, or a flap
        with self._changed:
            if self._outage_started_at_s is None:
                self._hand_over_outage(reason, is_flap=is_ongoing)
        if cause is not None:
            reason = f"{reason}: {cause}"  # so each count line names it too, as the last failure's cause
        if self._failures is None or not is_ongoing:
            self._failures = FailureLog(  # its first line: a reader that raised gets a traceback
                logger,
                _UNAVAILABLE if error is None else _READER_FAILED,
                interval_s=self._error_log_interval_s,
                where=self.source.name,
                monotonic=self._monotonic,
                settle_s=self._stable_s,
            )
            self._causes_told = set() if cause is None else {cause}
        elif cause is not None and cause not in self._causes_told:
            self._causes_told.add(cause)
            logger.warning("source %s: cannot open it: %s", self.source.name, cause)
        self._failures.failed(reason if error is None else error)

    def _hand_over_outage(self, reason: str, *, is_flap: bool) -> None:
        """Queue the outage for the consumer, once, before any later frame (called holding the lock)."""
        self._outage_started_at_s = self._monotonic()
        self.outage_count += 1
        if self._latest is not None:  # a frame from before the outage is never decided on
            self.dropped_frames += 1
            self._latest = None
        outage = SourceOutage(self.source.name, self._outage_started_at_s, reason, is_flap=is_flap)
        self._outages.append(outage)
        self._changed.notify_all()


DEVICE_PREFIX = "/dev/"


def is_live_source(source: str) -> bool:
    """A device index, a device path (/dev/video0, /dev/v4l/by-id/...) or a stream URL (any scheme but
    file://): read for the newest frame and reopened when it fails; a local path or file:// URL is finite.

    A device path is told by its name, not by the file: an unplugged camera's node is gone.
    """
    return source.isdigit() or source.startswith(DEVICE_PREFIX) or is_url(source)


@contextmanager
def open_frames(
    source: str,
    *,
    decode: Callable[[bytes], BgrImage],
    monotonic: Callable[[], float],
    timeout_s: float,
    reconnect_initial_s: float,
    reconnect_max_s: float,
    error_log_interval_s: float = 30.0,
) -> Iterator[Iterator[BgrImage | CapturedFrame | SourceOutage]]:
    """The frames of `source`, chosen by `is_live_source`; a live reader is stopped on exit, waiting for its
    capture at most `timeout_s`.

    A live source's outage is logged by its start, a count per `error_log_interval_s` and its end, once
    frames kept coming for `error_log_interval_s`: a flapping source is logged as one outage.

    Raises:
        CameraUnavailable: a file or folder cannot be opened (a live source is retried instead).
    """
    if not is_live_source(source):
        path = Path(source)
        finite = ImageFolderFrameSource(path, decode=decode) if path.is_dir() else OpencvFrameSource(source)
        frames = finite.frames()
        try:
            yield frames
        finally:
            frames.close()
        return
    reader = LatestFrameReader(
        OpencvFrameSource(source, timeout_s=timeout_s, monotonic=monotonic),
        monotonic=monotonic,
        reconnect_initial_s=reconnect_initial_s,
        reconnect_max_s=reconnect_max_s,
        error_log_interval_s=error_log_interval_s,
        stable_s=error_log_interval_s,
        stop_wait_s=capture_stop_wait_s(timeout_s),
    )
    with reader:
        yield iter(reader)
