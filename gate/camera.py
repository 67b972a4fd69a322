"""Frame sources: anything cv2.VideoCapture opens (device index, file, RTSP or HTTP URL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Protocol

import cv2
import numpy as np

from gate.errors import CameraUnavailable
from recognition import BgrImage

logger = logging.getLogger(__name__)


class FrameSource(Protocol):
    """Yields BGR frames until the stream ends."""

    name: str

    def frames(self) -> Iterator[BgrImage]:
        """Frames in order; raises CameraUnavailable when the source cannot be opened."""
        ...


class OpencvFrameSource:
    """cv2.VideoCapture over a device index ("0"), a video file, or an RTSP/HTTP URL."""

    def __init__(self, source: str) -> None:
        self.name = source

    def frames(self) -> Iterator[BgrImage]:
        target: int | str = int(self.name) if self.name.isdigit() else self.name
        capture = cv2.VideoCapture(target)
        if not capture.isOpened():
            raise CameraUnavailable(f"cannot open video source {self.name!r}")
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    logger.info("source %s ended", self.name)
                    return
                yield np.asarray(frame, dtype=np.uint8)
        finally:
            capture.release()
