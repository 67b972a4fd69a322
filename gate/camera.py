"""Frame sources: anything cv2.VideoCapture opens (device index, file, stream URL); image folders."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote_plus

import cv2
import numpy as np

from gate.errors import CameraStalled, CameraUnavailable
from gate.http_probe import OpenFailureProbe
from recognition import BgrImage, ImageError, image_suffixes

logger = logging.getLogger(__name__)

HTTP_URL_SCHEMES = ("http://", "https://")
_URL_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
FILE_URL_SCHEME = "file://"


class FrameSource(Protocol):
    """Yields BGR frames until the stream ends."""

    name: str

    def frames(self) -> Generator[BgrImage, None, None]:
        """Frames in order; closing the generator releases the device.

        Raises:
            CameraUnavailable: the source cannot be opened.
            CameraStalled: a stream stopped sending without closing (its read timed out).
        """
        ...


def is_url(source: str) -> bool:
    """True for a stream address: a URL of any scheme but file:// (rtsp, http(s), rtmp, udp, srt, ...)."""
    scheme = _URL_SCHEME.match(source)
    return scheme is not None and scheme.group().lower() != FILE_URL_SCHEME


_SECRET_NAME_PARTS = ("pass", "pwd", "pw", "token", "key", "auth", "sig", "secret", "credential", "session")
"""A URL parameter is a secret when its name contains one of these (any case): password, passphrase, pwd,
pw, user-pw and proxy-pw (GStreamer's), token, access_token, key, apikey, auth, sig, signature,
X-Amz-Signature, X-Amz-Credential, sessionid, ... (also a harmless name that holds one: pbkeylen)."""
_URL_PARTS = re.compile(r"([^/?#]*://)(?:([^/?#]*)(@))?([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?", re.DOTALL)
"""scheme://, user info, @, host and port, path, ?query, #fragment: split without urlsplit's normalising."""
_QUERY_PARAM = re.compile(r"(^|[?#&;])([^&;=]*)=([^&;]*)")
_PATH_PARAM = re.compile(r"(^|[/&;])([^/&;=]*)=([^/&;]*)")  # rtsp://host/user=admin&password=...&channel=1
_EMBEDDED_URL = re.compile(r"""[a-z][a-z0-9+.-]*://[^\s"']*""", re.IGNORECASE)
"""A URL inside other text (a GStreamer pipeline's `location=rtsp://...`): up to a space or a quote."""
_PIPELINE_PROPERTY = re.compile(r"""(^|\s)([A-Za-z_][\w-]*)=("[^"]*"|'[^']*'|[^\s"']*)""")
"""An element property of a GStreamer pipeline (`rtspsrc user-pw=...`, `srtsrc passphrase="..."`)."""


def _is_secret_name(name: str) -> bool:
    lowered = unquote_plus(name).lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def _masked_params(text: str, param: re.Pattern[str]) -> str:
    def mask(match: re.Match[str]) -> str:
        start, name, value = match.groups()
        return f"{start}{name}=***" if value and _is_secret_name(name) else match.group()

    return param.sub(mask, text)


def redacted_source(source: str) -> str:
    """The source as it may be logged and audited: a stream URL with every secret replaced by `***`.

    Secrets are the password of the URL's user (rtsp://user:password@host/...) and the value of every
    parameter, in the query, the path or the fragment, whose name names a secret (`_SECRET_NAME_PARTS`:
    srt://host?passphrase=..., http://cam/video.mjpg?pwd=..., signed URLs' sig=..., X-Amz-Signature=...).
    They must never reach a log line, an error message, /healthz or the audit log. Other parameters
    (channel=1, user=bob) are kept as written. A source that is not a URL, such as a GStreamer pipeline
    (`rtspsrc location=rtsp://user:password@host/... user-pw=... ! ...`), gets the same rules for each URL
    and each element property in it (`_redacted_pipeline`).
    """
    if not is_url(source):
        return _redacted_pipeline(source)
    return _redacted_url(source)


def _redacted_url(source: str) -> str:
    """A stream URL with its user's password and its secret parameters masked; any other text as written."""
    url = _URL_PARTS.match(source)
    if url is None or not is_url(source):
        return source
    scheme, userinfo, at, host, path, query, fragment = url.groups(default="")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    path, query, fragment = (
        _masked_params(path, _PATH_PARAM),
        _masked_params(query, _QUERY_PARAM),
        _masked_params(fragment, _QUERY_PARAM),
    )
    return f"{scheme}{userinfo}{at}{host}{path}{query}{fragment}"  # else as written: case, an empty `?`


def _redacted_pipeline(source: str) -> str:
    """Any other source (a GStreamer pipeline, a path) with the same secrets masked: each URL in it by the
    URL rules, and every `name=value` property whose name names a secret (`user-pw=***`, `passphrase=***`).

    `file://` URLs and paths without such a property or URL are kept as written.
    """
    masked = _masked_params(source, _PIPELINE_PROPERTY)
    return _EMBEDDED_URL.sub(lambda url: _redacted_url(url.group()), masked)


class OpencvFrameSource:
    """cv2.VideoCapture over a device index ("0") or path, a video file, or a stream URL (RTSP, HTTP, ...).

    A URL is opened with FFmpeg and `timeout_s` bounds both opening it and each read, so a
    stalled stream ends (and can be reopened) instead of blocking forever. OpenCV reports a timed-out
    read like the stream's end, so a read that took `timeout_s` on `monotonic` is told apart
    (CameraStalled): FFmpeg's own timeout warning is plain text on stderr, off in JSON logs. A stream
    that stalls mid-frame is timed out with part of a JPEG, which OpenCV hands over as a frame (the part
    decoded over the previous frame's pixels, or grey, stamped now though its data is `timeout_s` old):
    by the read cut off (the next one fails at once), or by the first read when the open was cut off
    while probing. So an open or read that took `timeout_s` raises the stall, whatever it returned.
    """

    def __init__(
        self, source: str, *, timeout_s: float = 10.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._location = source
        self.name = redacted_source(source)
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self._probe = (
            OpenFailureProbe(source, timeout_s=timeout_s, monotonic=monotonic)
            if source.lower().startswith(HTTP_URL_SCHEMES)
            else None
        )

    def _open(self) -> cv2.VideoCapture:
        if self._location.isdigit():
            return cv2.VideoCapture(int(self._location))
        if is_url(self._location):
            timeout_ms = int(self._timeout_s * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
            return cv2.VideoCapture(self._location, cv2.CAP_FFMPEG, params)
        return cv2.VideoCapture(self._location)

    def frames(self) -> Generator[BgrImage, None, None]:
        open_started_s = self._monotonic()
        capture = self._open()
        try:
            if not capture.isOpened():
                raise CameraUnavailable(
                    f"cannot open video source {self.name!r}", cause=self._open_failure(open_started_s)
                )
            self._raise_if_cut_off(open_started_s)
            while True:
                read_started_s = self._monotonic()
                ok, frame = capture.read()
                self._raise_if_cut_off(read_started_s)
                if not ok:
                    logger.info("source %s ended", self.name)
                    return
                yield np.asarray(frame, dtype=np.uint8)
        finally:
            capture.release()

    def _open_failure(self, started_s: float) -> str | None:
        """Why an http(s) camera did not open, by a probe of its own (gate/http_probe.py); None for others.

        The open and its probe keep to one deadline, `timeout_s` from the open's start: an open that ran
        into it had no answer (the probe would only wait as long again), and the probe gets what is left.
        """
        if self._probe is None:
            return None
        deadline_s = started_s + self._timeout_s
        if self._monotonic() >= deadline_s:
            return f"no answer within {self._timeout_s:g} s"
        return self._probe.cause(deadline_s=deadline_s)

    def _raise_if_cut_off(self, started_s: float) -> None:
        """CameraStalled when a stream's open or read begun at `started_s` ran into its timeout.

        What such a call returns may be part of a frame: an open cut off while probing the stream holds the
        JPEG it had begun, which the next read hands over at once, and a read cut off mid-frame returns it.
        """
        if is_url(self._location) and self._monotonic() - started_s >= self._timeout_s:
            raise CameraStalled(f"source {self.name!r} sent no frame for {self._timeout_s:g} s")


class ImageFolderFrameSource:
    """The image files of one folder, sorted by name, each decoded into one frame.

    `decode` is the product's decoder (`Recognizer.decode`), so a frame gets the same size limits
    and EXIF handling as an enrollment photo. A file that does not decode is logged and skipped.
    """

    def __init__(self, folder: Path, *, decode: Callable[[bytes], BgrImage]) -> None:
        self.name = str(folder)
        self._folder = folder
        self._decode = decode

    def frames(self) -> Generator[BgrImage, None, None]:
        if not self._folder.is_dir():
            raise CameraUnavailable(f"cannot open image folder {self.name!r}")
        paths = sorted(p for p in self._folder.iterdir() if p.suffix.lower() in image_suffixes())
        for path in paths:
            try:
                image = self._decode(path.read_bytes())
            except ImageError as exc:
                logger.warning("source %s: %s skipped: %s", self.name, path.name, exc)
                continue
            yield image
