"""The edge gate's HTTP client of the FaceGate API: JSON over HTTP(S) with the device's bearer key.

Its errors say what the API answered: a refusal (4xx) is DeviceRefused; any 5xx is ServerUnavailable
with the status, the reason phrase and the server's own words when it sent some (the `status` word and
`detail` of a JSON body, a plain-text line, an HTML page's title), since the API is reachable then and
only its words tell a loading gallery from a proxy's 502; no answer within the timeout is NoAnswerInTime;
a refused connection, 408 or 429 is UpstreamUnavailable. A 503's or 429's Retry-After (delta-seconds) rides
on the error as `retry_after_s`, for the caller's next attempt.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from gate.errors import DeviceRefused, NoAnswerInTime, ServerUnavailable, UpstreamUnavailable

__all__ = ["ApiClient"]

_REFUSED_STATUSES = frozenset({400, 401, 403, 404, 409, 422})
_MAX_DETAIL_CHARS = 300
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class ApiClient:
    """JSON over HTTP(S) to the FaceGate API with the device's bearer key (urllib: no extra dependency)."""

    def __init__(self, base_url: str, *, api_key: str) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key

    def post(self, path: str, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """The decoded JSON answer.

        Raises:
            DeviceRefused: 4xx other than 408/429 (a revoked key, a door not its own, a bad request).
            ServerUnavailable: a 5xx, with its status, the server's words (`status`, `detail`) if any and
                its Retry-After.
            NoAnswerInTime: no answer within `timeout_s` (to connect, or between bytes of the answer).
            UpstreamUnavailable: no connection, 408 or 429 (with its Retry-After): retry later.
        """
        request = urllib.request.Request(
            self._base_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            answer_bytes = exc.read(4096)  # the API's error bodies whole (under 300 bytes), others bounded
            if exc.code in _REFUSED_STATUSES:
                detail = answer_bytes[:_MAX_DETAIL_CHARS].decode(errors="replace")
                raise DeviceRefused(f"{path}: the API answered {exc.code}: {detail}") from exc
            if exc.code >= 500:
                raise _server_unavailable(path, exc, answer_bytes) from exc
            wait_s = _retry_after_s(exc)
            raise UpstreamUnavailable(f"{path}: the API answered {exc.code}", retry_after_s=wait_s) from exc
        except (TimeoutError, urllib.error.URLError) as exc:
            if isinstance(exc, TimeoutError) or isinstance(exc.reason, TimeoutError):
                raise NoAnswerInTime(f"{path}: no answer within {timeout_s:g} s") from exc
            raise UpstreamUnavailable(f"{path}: {exc}") from exc  # refused, no route, no such host
        except (OSError, ValueError) as exc:  # a reset or torn answer; a torn JSON body
            raise UpstreamUnavailable(f"{path}: {exc}") from exc


def _server_unavailable(path: str, exc: urllib.error.HTTPError, body: bytes) -> ServerUnavailable:
    """A 5xx as ServerUnavailable: the body's `status` word (`schema_missing`) when it names one, and
    its `detail` (or `message`), a plain-text line or an HTML title as the server's words."""
    status = f"{exc.code} {exc.reason}".strip()
    word, detail = _server_words(body, content_type=exc.headers.get_content_type() if exc.headers else "")
    said = f" {word}" if word else ""
    message = f"{path}: the API answered {status}{said}" + (f": {detail}" if detail else "")
    return ServerUnavailable(
        message, status_word=word, detail=detail, status=status, retry_after_s=_retry_after_s(exc)
    )


def _retry_after_s(exc: urllib.error.HTTPError) -> float | None:
    """The answer's Retry-After in seconds when it is delta-seconds (what the API sends); None without one,
    or for an HTTP date (a proxy's), which the caller's own backoff covers."""
    value = exc.headers.get("Retry-After") if exc.headers else None
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def _server_words(body: bytes, *, content_type: str) -> tuple[str | None, str]:
    """The `status` word (an identifier, or None) and the message a 5xx body holds ('' when none)."""
    if content_type == "text/html":
        title = _TITLE.search(body)
        return None, _one_line(title[1].decode(errors="replace")) if title else ""
    try:
        answer = json.loads(body)
    except ValueError:
        text = body.decode(errors="replace").strip()
        return None, _one_line(text.splitlines()[0]) if content_type == "text/plain" and text else ""
    if not isinstance(answer, dict):
        return None, ""
    word = answer.get("status")
    if not (isinstance(word, str) and word.isidentifier() and len(word) <= 40):
        word = None
    detail = answer.get("detail", answer.get("message"))
    return word, _one_line(str(detail)) if detail is not None else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_DETAIL_CHARS]
