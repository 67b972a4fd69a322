"""A real MJPEG-over-HTTP camera for tests: multipart/x-mixed-replace JPEGs from an http.server thread."""

from __future__ import annotations

import http.server
import io
import threading
import time

import cv2
import numpy as np

BOUNDARY = b"facegateframe"
DIGIT_BLOCK_PX = 16


def stamp(frame: np.ndarray, number: int) -> np.ndarray:
    """A copy of the frame with `number` (0..255) written as two flat grey blocks in its top-left corner."""
    stamped = frame.copy()
    high, low = divmod(number, 16)
    stamped[:DIGIT_BLOCK_PX, :DIGIT_BLOCK_PX] = high * 16 + 8
    stamped[:DIGIT_BLOCK_PX, DIGIT_BLOCK_PX : 2 * DIGIT_BLOCK_PX] = low * 16 + 8
    return stamped


def read_stamp(frame: np.ndarray) -> int:
    """The number `stamp` wrote, read back through JPEG's small losses."""
    high = int(frame[:DIGIT_BLOCK_PX, :DIGIT_BLOCK_PX].mean()) // 16
    low = int(frame[:DIGIT_BLOCK_PX, DIGIT_BLOCK_PX : 2 * DIGIT_BLOCK_PX].mean()) // 16
    return high * 16 + low


def _jpeg(frame: np.ndarray, number: int) -> bytes:
    """The frame stamped with `number`, as a JPEG."""
    return cv2.imencode(".jpg", stamp(frame, number), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def _part_header(jpeg_bytes: int) -> bytes:
    """The multipart header of a JPEG of `jpeg_bytes` bytes."""
    return b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % (BOUNDARY, jpeg_bytes)


class _JoiningHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the connection threads: nothing outlives stop()


class MjpegCamera:
    """Serves numbered JPEG frames to every client; `sent` counts frames written on the latest connection.

    Each connection starts again at frame 0 and writes one frame every `interval_s`, stopping after
    the last one (the connection then stays open, idle) or when the camera is stopped. An
    `is_looping` camera starts again at frame 0 after the last one instead, until it is stopped, so a
    gate slowed by a loaded machine never finds the scene over before the test is done with it;
    `all_sent` is then set after the first pass. A camera with `stall_mid_frame` sends the first half of
    the JPEG after the last frame, and then nothing more on that connection (a camera or link stalling
    mid-frame, the connection left open).
    """

    def __init__(
        self,
        frames: list[np.ndarray],
        *,
        interval_s: float,
        port: int = 0,
        is_looping: bool = False,
        stall_mid_frame: np.ndarray | None = None,
    ) -> None:
        self._jpegs = [_jpeg(frame, number) for number, frame in enumerate(frames)]
        self._half_jpeg = None if stall_mid_frame is None else _jpeg(stall_mid_frame, len(frames))
        self._interval_s = interval_s
        self._is_looping = is_looping
        self._halt = threading.Event()
        self.all_sent = threading.Event()
        self.sent = 0
        self._server = _JoiningHttpServer(("127.0.0.1", port), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
                self.end_headers()
                camera.serve(self.wfile)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    def serve(self, out: io.BufferedIOBase) -> None:
        self.sent = 0
        while self._send_every_frame(out):
            if self._half_jpeg is not None:
                self._send_half_frame(out)
            self.all_sent.set()
            if not self._is_looping:
                self._halt.wait()
                return

    def _send_every_frame(self, out: io.BufferedIOBase) -> bool:
        """One pass over the frames; False when the camera was stopped or the client went away."""
        for jpeg in self._jpegs:
            if self._halt.is_set():
                return False
            try:
                out.write(_part_header(len(jpeg)) + jpeg + b"\r\n")
                out.flush()
            except (BrokenPipeError, ConnectionResetError):
                return False
            self.sent += 1
            time.sleep(self._interval_s)
        return True

    def _send_half_frame(self, out: io.BufferedIOBase) -> None:
        """The part's header, announcing the whole JPEG, and its first half."""
        assert self._half_jpeg is not None
        jpeg = self._half_jpeg
        try:
            out.write(_part_header(len(jpeg)) + jpeg[: len(jpeg) // 2])
            out.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    def stop(self) -> None:
        """Drop every connection and close the listening socket (the camera goes dark)."""
        self._halt.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
