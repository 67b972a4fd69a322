"""OpencvFrameSource over a real video file written with cv2.VideoWriter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gate import CameraUnavailable, FrameSource, OpencvFrameSource


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
