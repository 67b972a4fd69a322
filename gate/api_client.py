"""The edge gate's HTTP client of the FaceGate API: JSON over HTTP(S) with the device's bearer key.

Its errors say what the API answered: a refusal (4xx) is DeviceRefused; any 5xx is ServerUnavailable
with the status, the reason phrase and the server's own words when it sent some (the `status` word and
`detail` of a JSON body, a plain-text line, an HTML page's title), since the API is reachable then and
only its words tell a loading gallery from a proxy's 502; no answer within the timeout is NoAnswerInTime;
a refused connection, 408 or 429 is UpstreamUnavailable. A 503's or 429's Retry-After rides on the error as
`retry_after_s`, for the caller's next attempt: delay-seconds (ASCII digits only, RFC 9110 10.2.3), or an
HTTP-date counted from the answer's Date (else this machine's time), at most a day; any other value is
treated as absent, so the caller's own backoff applies.
"""

from __future__ import annotations

import email.utils
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from gate.errors import DeviceRefused, NoAnswerInTime, ServerUnavailable, UpstreamUnavailable

__all__ = ["ApiClient"]

_REFUSED_STATUSES = frozenset({400, 401, 403, 404, 409, 422})
_MAX_DETAIL_CHARS = 300
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_DELAY_SECONDS = re.compile(r"[0-9]+", re.ASCII)
_MAX_RETRY_AFTER_S = 86_400.0
"""The longest Retry-After taken as said (a day): a longer one, or a date further ahead, is taken as this; the
callers cap their waits lower still (retry_max_s)."""


class ApiClient:
    """JSON over HTTP(S) to the FaceGate API with the device's bearer key (urllib: no extra dependency)."""

    def __init__(
        self, base_url: str, *, api_key: str, utc_now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._utc_now = utc_now
        """This machine's time, for a Retry-After date in an answer without a Date header."""

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
                wait_s = _retry_after_s(exc.headers, utc_now=self._utc_now)
                raise _server_unavailable(path, exc, answer_bytes, retry_after_s=wait_s) from exc
            wait_s = _retry_after_s(exc.headers, utc_now=self._utc_now)
            raise UpstreamUnavailable(f"{path}: the API answered {exc.code}", retry_after_s=wait_s) from exc
        except (TimeoutError, urllib.error.URLError) as exc:
            if isinstance(exc, TimeoutError) or isinstance(exc.reason, TimeoutError):
                raise NoAnswerInTime(f"{path}: no answer within {timeout_s:g} s") from exc
            raise UpstreamUnavailable(f"{path}: {exc}") from exc  # refused, no route, no such host
        except (OSError, ValueError) as exc:  # a reset or torn answer; a torn JSON body
            raise UpstreamUnavailable(f"{path}: {exc}") from exc


def _server_unavailable(
    path: str, exc: urllib.error.HTTPError, body: bytes, *, retry_after_s: float | None
) -> ServerUnavailable:
    """A 5xx as ServerUnavailable: the body's `status` word (`schema_missing`) when it names one, and
    its `detail` (or `message`), a plain-text line or an HTML title as the server's words."""
    status = f"{exc.code} {exc.reason}".strip()
    word, detail = _server_words(body, content_type=exc.headers.get_content_type() if exc.headers else "")
    said = f" {word}" if word else ""
    message = f"{path}: the API answered {status}{said}" + (f": {detail}" if detail else "")
    return ServerUnavailable(
        message, status_word=word, detail=detail, status=status, retry_after_s=retry_after_s
    )


def _retry_after_s(headers: Message | None, *, utc_now: Callable[[], datetime]) -> float | None:
    """The answer's Retry-After in seconds, at most _MAX_RETRY_AFTER_S: delay-seconds (ASCII digits only:
    `²` or `٣` pass str.isdigit but are no delay-seconds), or an HTTP-date less the answer's Date (the same
    clock; this machine's time when there is none), 0 for a date past. None without one or for anything
    else (the caller's own backoff then applies)."""
    value = headers.get("Retry-After") if headers else None
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        digits = value.lstrip("0") or "0"
        return _MAX_RETRY_AFTER_S if len(digits) > 9 else min(float(int(digits)), _MAX_RETRY_AFTER_S)
    until = _http_date(value)
    if until is None:
        return None
    said_now = _http_date(headers.get("Date", "")) if headers else None
    now = said_now if said_now is not None else utc_now()
    return min(max((until - now).total_seconds(), 0.0), _MAX_RETRY_AFTER_S)


def _http_date(value: str) -> datetime | None:
    """An HTTP-date as an aware datetime (a zone-less one taken as UTC), or None when it is none."""
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):  # not a date, or one out of range
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
