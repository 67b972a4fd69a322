"""LatestFrameReader over a real MJPEG-over-HTTP camera that cv2.VideoCapture (FFmpeg) opens."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gate import CapturedFrame, LatestFrameReader, OpencvFrameSource, SourceOutage, is_live_source
from recognition import Recognizer
from tests.fakes import Placement, build_frames
from tests.gate.mjpeg import MjpegCamera, read_stamp

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
    )


def _next_frame(reader: LatestFrameReader) -> CapturedFrame:
    item = reader.poll(WAIT_S)
    assert isinstance(item, CapturedFrame), f"expected a frame, got {item!r}"
    return item


def test_live_sources_are_device_indexes_and_stream_urls():
    assert all(map(is_live_source, ["0", "rtsp://cam/1", "RTSPS://cam", "http://cam/x.mjpg", "https://c/"]))
    assert not any(map(is_live_source, ["door.avi", "/srv/frames", "file:///door.avi", "0.avi"]))


def test_reader_hands_over_the_newest_frame_and_counts_the_ones_it_replaced(walker):
    frame_count = 40
    camera = MjpegCamera(walker(frame_count), interval_s=0.005)
    reader = _reader(camera.url)
    try:
        reader.start()
        first = _next_frame(reader)
        assert first.image.shape == (480, 640, 3)
        assert camera.all_sent.wait(WAIT_S)
        taken = [read_stamp(first.image)]
        while taken[-1] != frame_count - 1:
            frame = _next_frame(reader)
            assert frame.captured_at_s >= first.captured_at_s
            taken.append(read_stamp(frame.image))
    finally:
        reader.stop()
        camera.stop()
    # Every frame the camera sent was either taken or counted as dropped; the consumer saw few of them.
    assert taken == sorted(taken) and len(set(taken)) == len(taken)
    assert reader.dropped_frames == frame_count - len(taken)
    assert len(taken) < frame_count // 2
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
