"""A real UDP camera for tests: an MPEG-TS stream, as encoders and multicast cameras send, from a thread."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import cv2
import numpy as np

TS_DATAGRAM_BYTES = 7 * 188  # seven MPEG-TS packets a datagram, as FFmpeg's udp output sends them
DATAGRAM_INTERVAL_S = 0.002
FRAMES_PER_S = 25


class UdpCamera:
    """Sends `frames` (MPEG-1 in MPEG-TS, written to `folder` by OpenCV) to a UDP port of 127.0.0.1 over and
    over until `stop()`; `url` is the udp:// address a gate reads it from."""

    def __init__(self, folder: Path, frames: list[np.ndarray]) -> None:
        path = folder / "stream.ts"
        height, width = frames[0].shape[:2]
        writer = cv2.VideoWriter(
            str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"mpg1"), FRAMES_PER_S, (width, height)
        )
        for frame in frames:
            writer.write(frame)
        writer.release()
        self._stream = path.read_bytes()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:
            free.bind(("127.0.0.1", 0))
            self.port = free.getsockname()[1]
        self.url = f"udp://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._send, name="udp-camera")
        self._thread.start()

    def _send(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while True:
                for start in range(0, len(self._stream), TS_DATAGRAM_BYTES):
                    sock.sendto(self._stream[start : start + TS_DATAGRAM_BYTES], ("127.0.0.1", self.port))
                    if self._stopping.wait(DATAGRAM_INTERVAL_S):
                        return

    def stop(self) -> None:
        """Stop sending (a camera that went away; UDP has no connection to close); safe to repeat."""
        self._stopping.set()
        self._thread.join()
