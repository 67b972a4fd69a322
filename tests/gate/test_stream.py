"""LatestFrameReader over a real MJPEG-over-HTTP camera that cv2.VideoCapture (FFmpeg) opens."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from gate import (
    CameraStalled,
    CameraUnavailable,
    CapturedFrame,
    LatestFrameReader,
    OpencvFrameSource,
    SourceOutage,
    is_live_source,
    open_frames,
)
from recognition import BgrImage, Recognizer
from tests.fakes import FakeClock, Placement, build_frames
from tests.gate.mjpeg import MjpegCamera, read_stamp
from tests.gate.udp import UdpCamera

WAIT_S = 20.0


@pytest.fixture
def walker(recognizer: Recognizer, group_faces: list[bytes]):
    """A real face walking across 640×480 frames."""
    return lambda count: build_frames(
        [Placement(recognizer.decode(group_faces[0]), 30, 100)], count=count, drift_px=1
    )


def _reader(url: str) -> LatestFrameReader:
    return LatestFrameReader(
        OpencvFrameSource(url, timeout_s=5.0),
        monotonic=time.monotonic,
        reconnect_initial_s=0.05,
        reconnect_max_s=0.2,
        error_log_interval_s=3600.0,  # no count line within a test: its lines are the start and the end
        stable_s=0.0,  # its end is logged at the first frame back
    )


def _next_frame(reader: LatestFrameReader) -> CapturedFrame:
    item = reader.poll(WAIT_S)
    assert isinstance(item, CapturedFrame), f"expected a frame, got {item!r}"
    return item


def test_live_sources_are_device_indexes_and_stream_urls():
    assert all(map(is_live_source, ["0", "rtsp://cam/1", "RTSPS://cam", "http://cam/x.mjpg", "https://c/"]))
    assert all(
        map(is_live_source, ["udp://@239.0.0.1:5004", "rtmp://cam/live", "srt://cam:9000", "rtp://c:5"])
    )
    assert not any(map(is_live_source, ["door.avi", "/srv/frames", "file:///door.avi", "FILE:///a.mp4"]))
    assert not any(map(is_live_source, ["0.avi", "clips/rtsp:cam.avi", "C:\\clips\\door.avi"]))


def test_reader_hands_over_the_newest_frame_and_counts_the_ones_it_replaced(walker):
    """A consumer that takes one frame, then none until the reader has read the rest, gets the newest one;
    every frame in between was replaced and counted (a consumer racing the reader was load-dependent)."""
    frame_count = 40
    camera = MjpegCamera(walker(frame_count), interval_s=0.005)
    reader = _reader(camera.url)
    try:
        reader.start()
        first = _next_frame(reader)
        assert first.image.shape == (480, 640, 3)
        assert camera.all_sent.wait(WAIT_S)
        _wait_for(lambda: reader.dropped_frames == frame_count - 2, "every frame but two replaced")
        newest = _next_frame(reader)
    finally:
        reader.stop()
        camera.stop()
    assert read_stamp(newest.image) == frame_count - 1 and newest.captured_at_s >= first.captured_at_s
    assert read_stamp(first.image) < frame_count - 1
    assert reader.dropped_frames == frame_count - 2
    assert reader.outage_count == 0


def test_reader_reports_an_outage_and_recovers_when_the_camera_returns(walker):
    frames = walker(200)
    camera = MjpegCamera(frames, interval_s=0.02)
    port = camera.port
    reader = _reader(camera.url)
    try:
        reader.start()
        _next_frame(reader)
        camera.stop()
        item = reader.poll(WAIT_S)
        while isinstance(item, CapturedFrame):  # frames already in flight before the camera went dark
            item = reader.poll(WAIT_S)
        assert isinstance(item, SourceOutage) and (item.source, item.reason) == (camera.url, "ended")
        camera = MjpegCamera(frames, interval_s=0.02, port=port)
        recovered = _next_frame(reader)
        assert recovered.captured_at_s > item.started_at_s
        assert read_stamp(recovered.image) < 100  # a new connection: the camera started again
    finally:
        reader.stop()
        camera.stop()
    assert reader.outage_count == 1 and reader.error_count == 0
    reader.stop()  # idempotent


def test_a_camera_that_stops_sending_but_stays_connected_is_a_read_timeout() -> None:
    camera = MjpegCamera([np.full((48, 64, 3), 90, np.uint8)] * 3, interval_s=0.01)  # then idle, connected
    try:
        with LatestFrameReader(
            OpencvFrameSource(camera.url, timeout_s=0.5, monotonic=time.monotonic),
            monotonic=time.monotonic,
            reconnect_initial_s=WAIT_S,
            reconnect_max_s=WAIT_S,
        ) as reader:
            item = reader.poll(WAIT_S)
            while isinstance(item, CapturedFrame):
                item = reader.poll(WAIT_S)
    finally:
        camera.stop()
    assert isinstance(item, SourceOutage) and item.reason == "read_timeout"


def test_stop_releases_a_reader_that_never_connected():
    reader = _reader("http://127.0.0.1:9/none.mjpg")
    reader.start()
    outage = reader.poll(WAIT_S)
    assert isinstance(outage, SourceOutage) and outage.reason == "open_failed"
    reader.stop()
    reader.stop()
    assert reader.outage_count == 1  # retries of one outage are not new outages


def _wait_for(condition, what: str) -> None:
    deadline_s = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline_s, f"timed out waiting for {what}"
        time.sleep(0.01)


def _reopenings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("reopening in" in r.getMessage() for r in caplog.records)


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gate.stream" and r.levelno >= logging.WARNING]


def test_a_camera_that_keeps_refusing_logs_its_outage_once_and_its_recovery(
    walker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gate.stream")
    frames = walker(50)
    camera = MjpegCamera(frames, interval_s=0.02, is_looping=True)
    port = camera.port
    reader = _reader(camera.url)
    try:
        reader.start()
        _next_frame(reader)
        camera.stop()  # the connection ends, then every reopen is refused
        item = reader.poll(WAIT_S)
        while isinstance(item, CapturedFrame):  # frames already in flight before the camera went dark
            item = reader.poll(WAIT_S)
        assert isinstance(item, SourceOutage)
        _wait_for(lambda: _reopenings(caplog) >= 6, "six failed reopen attempts")
        camera = MjpegCamera(frames, interval_s=0.02, port=port, is_looping=True)
        _next_frame(reader)  # the reader logged the outage's end before it handed this frame over
    finally:
        reader.stop()
        camera.stop()
    lines = [r.getMessage() for r in _lines(caplog)]
    assert len(lines) == 3, lines  # its start, its cause and its end: no line per failed attempt
    first, refused, recovered = lines
    assert first == f"source {camera.url}: unavailable (ended); reopening it with backoff"
    assert refused == f"source {camera.url}: cannot open it: connection refused"  # once, not per attempt
    failed_attempts = _reopenings(caplog)  # each failed attempt is counted, and logged at debug only
    assert recovered.startswith(f"source {camera.url}: recovered after ")
    assert recovered.endswith(f" s ({failed_attempts} attempts failed)")
    assert not any(r.exc_info for r in caplog.records)


class FakeFileCamera:
    """A camera driver that reads a real JPEG file and raises OSError (not CameraUnavailable) while it is
    missing: the reader's own error path, which is retried like an outage."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self._path = path

    def frames(self) -> Generator[np.ndarray, None, None]:
        image = cv2.imdecode(np.frombuffer(self._path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        while True:
            yield image
            time.sleep(0.01)


def test_a_reader_that_keeps_raising_logs_one_traceback_and_counts_every_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gate.stream")
    path = tmp_path / "frame.jpg"
    reader = LatestFrameReader(
        FakeFileCamera(path),
        monotonic=time.monotonic,
        reconnect_initial_s=0.01,
        reconnect_max_s=0.05,
        error_log_interval_s=3600.0,
        stable_s=0.0,
    )
    try:
        reader.start()
        _wait_for(lambda: reader.error_count >= 6, "six reader errors")
        assert isinstance(reader.poll(WAIT_S), SourceOutage)
        cv2.imwrite(str(tmp_path / "whole.jpg"), np.full((48, 64, 3), 90, np.uint8))
        (tmp_path / "whole.jpg").rename(path)  # the reader never sees a half-written file
        _next_frame(reader)  # the reader logged the failure's end before it handed this frame over
    finally:
        reader.stop()
    lines = _lines(caplog)
    assert len(lines) == 2, [r.getMessage() for r in lines]  # its start and its end, not one a retry
    first, recovered = lines
    assert first.levelno == logging.ERROR and first.exc_info is not None
    assert first.getMessage().startswith(f"source {path}: reader failed (FileNotFoundError: ")
    assert recovered.getMessage().endswith(f" s ({reader.error_count} attempts failed)")
    assert sum(r.exc_info is not None for r in caplog.records) == 1  # one traceback, not one per retry
    assert reader.outage_count == 1 and reader.error_count == _reopenings(caplog)  # every error counted


class CrashingCamera:
    """A camera driver whose first open is refused and whose later opens raise; each takes 1 s on `clock`."""

    def __init__(self, clock: FakeClock) -> None:
        self.name = "rtsp://cam/crashing"
        self.clock, self.opens = clock, 0

    def frames(self) -> Generator[BgrImage, None, None]:
        self.opens += 1
        self.clock.advance(1.0)
        if self.opens == 1:
            raise CameraUnavailable(f"{self.name}: cannot open the stream")
        raise RuntimeError("camera driver crashed")
        yield  # a generator, as a FrameSource's frames are


def test_a_count_line_names_a_new_cause_of_the_outage_once(caplog: pytest.LogCaptureFixture) -> None:
    """A count line names its last failure's cause; when that cause is new it is named there once, with its
    traceback, not again as 'now failing with'."""
    caplog.set_level(logging.DEBUG, logger="gate.stream")
    clock = FakeClock()
    camera = CrashingCamera(clock)
    reader = LatestFrameReader(
        camera, monotonic=clock, reconnect_initial_s=0.001, reconnect_max_s=0.001, error_log_interval_s=3.0
    )
    try:
        reader.start()
        _wait_for(lambda: len(_lines(caplog)) >= 2, "a count line")
    finally:
        reader.stop()
    first, still = _lines(caplog)[:2]
    assert first.getMessage() == f"source {camera.name}: unavailable (open_failed); reopening it with backoff"
    assert still.getMessage() == (
        f"source {camera.name}: still unavailable: 3 reopen attempts failed in the last 3 s "
        "(last: RuntimeError: camera driver crashed)"
    )
    assert still.exc_info is not None


class HangingCamera:
    """A camera driver whose open blocks until `release` is set, whatever the camera timeout, as FFmpeg's host
    name lookup does (it waits as long as the system's resolver); `is_released` once its capture is."""

    def __init__(self) -> None:
        self.name = "rtsp://cam.lobby.example/hanging"
        self.is_opening, self.release = threading.Event(), threading.Event()
        self.is_released = threading.Event()

    def frames(self) -> Generator[BgrImage, None, None]:
        self.is_opening.set()
        try:
            self.release.wait()
            raise CameraUnavailable(f"{self.name}: host name not resolved")
            yield  # a generator, as a FrameSource's frames are
        finally:
            self.is_released.set()


def test_a_stop_waits_for_a_hung_camera_open_only_its_bound(caplog: pytest.LogCaptureFixture) -> None:
    """stop() joined the capture thread however long its call blocked: FFmpeg resolving a camera's host name
    ignores the open timeout (10 s by glibc's defaults with a resolver that does not answer, whatever
    camera_timeout_s), so a stopping worker waited that long, past the daemon's stop_timeout_s: killed."""
    camera = HangingCamera()
    reader = LatestFrameReader(
        camera, monotonic=time.monotonic, reconnect_initial_s=0.05, reconnect_max_s=0.05, stop_wait_s=0.05
    )
    try:
        reader.start()
        assert camera.is_opening.wait(WAIT_S)
        reader.stop()
        assert not camera.is_released.is_set()  # stop() returned while the open was still blocked
    finally:
        camera.release.set()
    assert camera.is_released.wait(WAIT_S)  # released by the thread once the call returned
    assert f"source {camera.name}: its capture is still blocked 0.1 s after the stop" in caplog.text


class FlappingCamera:
    """A camera driver that flaps `cycles` times: its open is refused, it opens and ends without a frame,
    it opens and ends after 3 frames. Then it delivers `stable_frames` frames and holds its last one until
    `release` is set. On `clock`, each of these opens takes 1 s, and each frame 1 s."""

    def __init__(self, clock: FakeClock, *, cycles: int, stable_frames: int) -> None:
        self.name = "rtsp://cam/flapping"
        self.clock, self.cycles, self.stable_frames = clock, cycles, stable_frames
        self.opens = 0
        self.is_stable, self.release = threading.Event(), threading.Event()
        self.image = np.full((48, 64, 3), 90, np.uint8)

    def frames(self) -> Iterator[np.ndarray]:
        self.opens += 1
        cycle, step = divmod(self.opens - 1, 3)
        if cycle == self.cycles:
            yield from self._frames(self.stable_frames)
            self.is_stable.set()  # every frame above was handed over (and its log line written)
            while True:
                self.release.wait()
                yield self.image
        self.clock.advance(1.0)
        if step == 0:
            raise CameraUnavailable(f"{self.name}: cannot open the stream")
        if step == 2:
            yield from self._frames(3)

    def _frames(self, count: int) -> Iterator[np.ndarray]:
        for _ in range(count):
            self.clock.advance(1.0)
            yield self.image


def _read_until_stable(reader: LatestFrameReader, camera: FlappingCamera) -> None:
    """Run the reader until the camera stayed up, then stop it."""
    try:
        reader.start()
        assert camera.is_stable.wait(WAIT_S), "the camera never stayed up"
    finally:
        camera.release.set()
        reader.stop()


def test_a_flapping_camera_is_logged_like_one_outage_and_counts_every_drop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A camera that came back for a few frames, then dropped again, logged two WARNING lines a flap."""
    caplog.set_level(logging.DEBUG, logger="gate.stream")
    clock = FakeClock()
    camera = FlappingCamera(clock, cycles=10, stable_frames=35)
    reader = LatestFrameReader(  # frames must keep coming for stable_s (its default, 30 s) to end the outage
        camera, monotonic=clock, reconnect_initial_s=0.001, reconnect_max_s=0.001, error_log_interval_s=30.0
    )
    _read_until_stable(reader, camera)
    lines = [r.getMessage() for r in _lines(caplog)]
    assert lines == [
        f"source {camera.name}: unavailable (open_failed); reopening it with backoff",
        f"source {camera.name}: still unavailable: 15 reopen attempts failed in the last 30 s "
        "(last: open_failed); it worked again 5 times, each for less than 30 s",
        f"source {camera.name}: recovered after 60.0 s (30 attempts failed)",
    ]
    outages = []
    while isinstance(item := reader.poll(0.0), SourceOutage):
        outages.append(item)
    # each drop is still handed to the gate (audited, its tracks ended), marked as a flap of the first outage
    assert [(o.reason, o.is_flap) for o in outages] == [("open_failed", False)] + [("ended", True)] * 10
    assert reader.outage_count == 11


def _waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The reader's waits before each reopen, in s, in order (from its debug lines' arguments)."""
    return [r.args[1] for r in caplog.records if r.msg.startswith("source %s: reopening in")]  # type: ignore[index]


@pytest.mark.parametrize(
    ("stable_s", "waits"),
    [
        (30.0, [1, 2, 4, 8] + [16] * 26),  # each flap's 3 frames span 2 s: the waits keep doubling
        (3.0, [1, 2, 4, 8] + [16] * 26),
        (2.0, [1, 2, 1] + [2, 4, 1] * 9),  # up for stable_s: the next wait is the shortest again
    ],
)
def test_a_flapping_camera_keeps_backing_off_until_it_stays_up_for_stable_s(
    caplog: pytest.LogCaptureFixture, stable_s: float, waits: list[int]
) -> None:
    """A camera that came back for a few frames was reopened at the shortest wait after every flap."""
    caplog.set_level(logging.DEBUG, logger="gate.stream")
    clock = FakeClock()
    camera = FlappingCamera(clock, cycles=10, stable_frames=1)
    initial_s = 0.0001  # real waits: the reader's thread sleeps them
    reader = LatestFrameReader(
        camera,
        monotonic=clock,
        reconnect_initial_s=initial_s,
        reconnect_max_s=16 * initial_s,
        stable_s=stable_s,
    )
    _read_until_stable(reader, camera)
    assert [round(wait_s / initial_s) for wait_s in _waits(caplog)] == waits


@pytest.mark.parametrize("whole_frames", [4, 0])
def test_a_camera_that_stalls_mid_frame_is_a_read_timeout_without_its_half_frame(
    walker, whole_frames: int
) -> None:
    """OpenCV hands over a JPEG cut off by the read timeout as a frame (what arrived, decoded over the last
    frame's pixels or grey, its data `timeout_s` old): the read cut off returns it and the next fails at once,
    or, for a connection's first frame, the open is cut off while probing and its first read returns it. The
    reader decided on that half frame as a fresh one (and called the first case the stream's end)."""
    frames = walker(5)
    camera = MjpegCamera(frames[:whole_frames], interval_s=0.01, stall_mid_frame=frames[-1])
    received = []
    try:
        with pytest.raises(CameraStalled, match=re.escape(f"source {camera.url!r} sent no frame for 0.5 s")):
            for image in OpencvFrameSource(camera.url, timeout_s=0.5, monotonic=time.monotonic).frames():
                received.append(read_stamp(image))
    finally:
        camera.stop()
    assert received == list(range(whole_frames))


def test_a_camera_device_path_is_live_so_an_unplugged_camera_is_an_outage_not_the_end(recognizer) -> None:
    """A device path (/dev/video0, the README's example) was read as a video file: frame by frame, never
    reopened, and a camera that is not there (unplugged) ended its gate instead of being retried."""
    assert is_live_source("/dev/video0") and is_live_source("/dev/v4l/by-id/usb-Cam-video-index0")
    with open_frames(
        "/dev/facegate-test-no-such-camera",
        decode=recognizer.decode,
        monotonic=time.monotonic,
        timeout_s=1.0,
        reconnect_initial_s=WAIT_S,
        reconnect_max_s=WAIT_S,
    ) as frames:
        item = next(iter(frames))
    assert isinstance(item, SourceOutage) and item.reason == "open_failed"


def test_a_udp_stream_is_live_so_a_sender_that_stops_is_a_read_timeout_not_the_end(
    tmp_path: Path, recognizer: Recognizer
) -> None:
    """A udp://, rtmp:// or srt:// source was read as a video file: frame by frame (a gate behind its camera
    worked through a backlog, its frames' age never checked), and a stream that stopped ended the gate after
    OpenCV's own 30 s read timeout, 'finished' for the daemon and healthy in /healthz, never reopened."""
    camera = UdpCamera(tmp_path, [np.full((48, 64, 3), 90, np.uint8)] * 25)
    try:
        with open_frames(
            camera.url,
            decode=recognizer.decode,
            monotonic=time.monotonic,
            timeout_s=2.0,
            reconnect_initial_s=0.05,
            reconnect_max_s=0.2,
        ) as items:
            first = next(items)
            camera.stop()  # the sender goes away: nothing tells the reader but the silence
            outage = next(item for item in items if isinstance(item, SourceOutage))
    finally:
        camera.stop()
    assert isinstance(first, CapturedFrame) and first.image.shape == (48, 64, 3)
    assert outage.reason == "read_timeout"
