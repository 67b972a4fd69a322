"""Finite sources: a real video file written with cv2.VideoWriter, and a folder of real photos."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from gate import CameraUnavailable, FrameSource, OpencvFrameSource, open_frames, redacted_source

OPEN_ARGS = {
    "monotonic": time.monotonic,
    "timeout_s": 1.0,
    "reconnect_initial_s": 0.1,
    "reconnect_max_s": 1.0,
}


def _write_video(
    path: Path, *, frame_count: int, width_px: int = 64, height_px: int = 48
) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (width_px, height_px))
    assert writer.isOpened()
    frames = []
    for index in range(frame_count):
        frame = np.full((height_px, width_px, 3), (20 * index, 100, 200 - 20 * index), dtype=np.uint8)
        writer.write(frame)
        frames.append(frame)
    writer.release()
    return frames


def test_reads_every_frame_of_a_video_file(tmp_path: Path):
    path = tmp_path / "clip.avi"
    written = _write_video(path, frame_count=7)
    source: FrameSource = OpencvFrameSource(str(path))
    frames = list(source.frames())
    assert len(frames) == 7
    for read, original in zip(frames, written, strict=True):
        assert read.shape == (48, 64, 3) and read.dtype == np.uint8
        # MJPG is lossy; a flat colour survives within a few levels, in BGR order.
        assert np.abs(read.astype(int).mean(axis=(0, 1)) - original[0, 0]).max() < 8


def test_missing_file_raises_camera_unavailable(tmp_path: Path):
    source = OpencvFrameSource(str(tmp_path / "missing.avi"))
    with pytest.raises(CameraUnavailable, match="missing.avi"):
        next(iter(source.frames()))


def test_an_image_folder_yields_its_images_in_name_order(tmp_path: Path, recognizer, group_faces):
    for name, data in [("b.jpg", group_faces[1]), ("a.jpg", group_faces[0]), ("c.png", group_faces[2])]:
        (tmp_path / name).write_bytes(data)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "d.jpg").write_bytes(b"not a jpeg")  # logged and skipped

    with open_frames(str(tmp_path), **OPEN_ARGS, decode=recognizer.decode) as frames:
        read = list(frames)

    expected = [recognizer.decode(group_faces[i]) for i in (0, 1, 2)]
    assert len(read) == 3
    assert all(np.array_equal(got, want) for got, want in zip(read, expected, strict=True))


def test_an_image_folder_yields_its_gif_and_pgm_photos(tmp_path: Path, recognizer, group_faces):
    # The folder's suffixes were a list of the gate's own, without .gif and .pgm, which the decoder reads.
    face = cv2.imdecode(np.frombuffer(group_faces[0], np.uint8), cv2.IMREAD_COLOR)
    files = {
        "a.gif": cv2.imencode(".gif", face)[1].tobytes(),
        "b.PGM": cv2.imencode(".pgm", cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))[1].tobytes(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    with open_frames(str(tmp_path), **OPEN_ARGS, decode=recognizer.decode) as frames:
        read = list(frames)

    assert len(read) == 2
    expected = [recognizer.decode(data) for data in files.values()]
    assert all(np.array_equal(got, want) for got, want in zip(read, expected, strict=True))


def test_a_video_file_is_read_frame_by_frame_not_for_the_newest(tmp_path: Path, recognizer):
    path = tmp_path / "clip.avi"
    _write_video(path, frame_count=5)
    with open_frames(str(path), **OPEN_ARGS, decode=recognizer.decode) as frames:
        assert len(list(frames)) == 5


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.7:554/stream1", "rtsp://admin:***@10.0.0.7:554/stream1"),
        ("http://user:p%40ss@cam.local/mjpeg?fps=5", "http://user:***@cam.local/mjpeg?fps=5"),
        ("rtsp://10.0.0.7/stream1", "rtsp://10.0.0.7/stream1"),
        ("0", "0"),
        ("videos/door.avi", "videos/door.avi"),
    ],
)
def test_a_stream_password_never_reaches_the_source_name(source: str, shown: str) -> None:
    assert redacted_source(source) == shown
    assert OpencvFrameSource(source).name == shown


def test_a_stream_that_cannot_be_opened_is_reported_without_its_password() -> None:
    source = OpencvFrameSource("http://admin:s3cret@127.0.0.1:1/mjpeg", timeout_s=2.0)

    with pytest.raises(CameraUnavailable) as caught:
        next(source.frames())

    assert "s3cret" not in str(caught.value) and "admin:***@127.0.0.1:1" in str(caught.value)
