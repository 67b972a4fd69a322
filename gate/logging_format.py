"""JSON-lines logs for the gate: one object a line with logger, level, message and the camera and door ids.

Only the record's formatted message is written, and gate code logs ids and scores only (E5), so a
line never carries an embedding, an image or a person's name; the camera and door come from the
process's own configuration, not from the record.

OpenCV and the FFmpeg inside it write plain-text diagnostics straight to the process's stderr from
native code (a stalled stream's `Stream timeout triggered`, a dark camera's `Connection refused`),
which would break a JSON-lines stream. In JSON mode both are silenced in each process that configures
its logging (the daemon and every camera worker); the gate logs each outage itself, with its reason.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Literal

import cv2

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
FFMPEG_LOG_QUIET = -8  # FFmpeg's AV_LOG_QUIET


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON object; `camera` and `door` are added when this process has them."""

    def __init__(self, *, camera: str | None = None, door: str | None = None) -> None:
        super().__init__()
        self._context = {
            key: value for key, value in (("camera", camera), ("door", door)) if value is not None
        }

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._context,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_gate_logging(
    *, is_verbose: bool, log_format: LogFormat, camera: str | None = None, door: str | None = None
) -> None:
    """Send the process's logs to stderr as text or JSON lines, warnings and up (debug when verbose)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLinesFormatter(camera=camera, door=door))
        silence_native_logs()
    else:
        prefix = f"[{camera}] " if camera else ""
        handler.setFormatter(logging.Formatter(prefix + TEXT_FORMAT))
    logging.basicConfig(level=logging.DEBUG if is_verbose else logging.WARNING, handlers=[handler])
    logging.captureWarnings(True)  # Python warnings become records in the same format


def silence_native_logs() -> None:
    """Stop OpenCV's logger and FFmpeg's writing plain text to stderr, for this process and its children.

    OpenCV reads OPENCV_FFMPEG_LOGLEVEL once, when its FFmpeg backend first opens a stream, so this
    must run before any capture is opened; spawned processes inherit the variable.
    """
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    os.environ["OPENCV_FFMPEG_LOGLEVEL"] = str(FFMPEG_LOG_QUIET)
