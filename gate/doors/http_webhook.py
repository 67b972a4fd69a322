"""A door opened by an HTTP POST to a webhook (a door controller, Home Assistant, Node-RED)."""

from __future__ import annotations

import http.client
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from email.message import Message
from functools import partial
from http import HTTPStatus
from typing import IO

from pydantic import SecretStr

from gate.door import unlock_message
from gate.errors import ActuatorError, DoorUnconfirmed

logger = logging.getLogger(__name__)

_GATEWAY_STATUSES = (502, 504)
"""A proxy's Bad Gateway and Gateway Timeout: the request may have reached the controller (see _refusal)."""


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx: urllib would otherwise repeat the unlock as a GET."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


class _Sending:
    """Whether one unlock's request was sent, decided once: it is sent, or it was given up before it was.

    The thread that POSTs marks the request sent just before its first byte goes out (after the TCP and TLS
    connect); the waiting thread gives up under the same lock, so a request is never sent after unlock()
    has reported that it was not.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.is_sent = False
        self._is_given_up = False

    def begin(self) -> None:
        """Mark the request sent; raises OSError once it was given up (the POST then ends unsent)."""
        with self._lock:
            if self._is_given_up:
                raise OSError("the unlock was given up before its request was sent")
            self.is_sent = True

    def give_up(self) -> bool:
        """Never send it from now on; whether it was sent already."""
        with self._lock:
            self._is_given_up = True
            return self.is_sent


class _MarkedConnection(http.client.HTTPConnection):
    """An HTTP connection that marks its request sent (`_Sending.begin`) once connected, before sending."""

    def __init__(self, *args: object, sending: _Sending, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._sending = sending

    def send(self, data: object) -> None:
        if self.sock is None:
            self.connect()  # a refused or failed connect (TLS included) leaves the request unsent
        self._sending.begin()
        super().send(data)  # type: ignore[arg-type]


class _MarkedHttpsConnection(_MarkedConnection, http.client.HTTPSConnection):
    """The same over TLS: `connect` (TCP and the TLS handshake) is HTTPSConnection's."""


class _MarkedHttpHandler(urllib.request.HTTPHandler):
    def __init__(self, sending: _Sending) -> None:
        super().__init__()
        self._sending = sending

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_MarkedConnection, sending=self._sending), req)


class _MarkedHttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, sending: _Sending) -> None:
        super().__init__()
        self._sending = sending

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_MarkedHttpsConnection, sending=self._sending), req)


class HttpWebhookDoor:
    """POSTs `{"door", "action": "unlock", "duration_s", "at", "unlock_id"}` as JSON, the unlock_id also as
    the `Idempotency-Key` header; any answer but 2xx is a failure (502 and 504: not a certain one)."""

    def __init__(
        self,
        *,
        url: str,
        timeout_s: float,
        token: SecretStr | None,
        utc_now: Callable[[], datetime],
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._token = token
        self._utc_now = utc_now

    def _request(self, *, door: str, duration_s: float, unlock_id: str) -> urllib.request.Request:
        body = unlock_message(door=door, duration_s=duration_s, at=self._utc_now(), unlock_id=unlock_id)
        headers = {"Content-Type": "application/json", "Idempotency-Key": unlock_id}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return urllib.request.Request(self._url, data=body, headers=headers, method="POST")

    def unlock(self, *, door: str, duration_s: float, unlock_id: str) -> None:
        """POST the unlock and wait at most `timeout_s` for a 2xx answer.

        The POST runs on a thread of its own: a socket timeout bounds each read, not the answer, so a
        webhook that sends its answer a byte at a time (or a host name whose resolver does not answer)
        would hold the gate loop past `timeout_s`. The thread ends at its socket's timeout; a request not
        yet sent when unlock() gives up is never sent.

        Raises:
            DoorUnconfirmed: the request was sent, but no valid answer came within `timeout_s` (late, cut
                off, not HTTP), or a gateway answered 502 or 504: the webhook may have opened the door.
            ActuatorError: the webhook answered with a status other than 2xx, 502 and 504, or the request
                was never sent (unreachable: DNS, refused, connect or TLS failure, or `timeout_s` spent before
                it).
        """
        request = self._request(door=door, duration_s=duration_s, unlock_id=unlock_id)
        sending = _Sending()
        answer: queue.SimpleQueue[int | ActuatorError] = queue.SimpleQueue()
        thread = threading.Thread(
            target=self._post, args=(request, door, sending, answer), name=f"webhook-{door}", daemon=True
        )
        thread.start()
        try:
            status = answer.get(timeout=self._timeout_s)
        except queue.Empty:
            failure = f"webhook of door {door} gave no complete answer within {self._timeout_s} s"
            if sending.give_up():
                raise DoorUnconfirmed(f"{failure}; the unlock was sent, the door may have opened") from None
            raise ActuatorError(f"{failure}; the unlock was not sent") from None
        if isinstance(status, ActuatorError):
            raise status
        logger.info("door %s unlocked for %.1f s by webhook (HTTP %d)", door, duration_s, status)

    def _post(
        self,
        request: urllib.request.Request,
        door: str,
        sending: _Sending,
        answer: queue.SimpleQueue[int | ActuatorError],
    ) -> None:
        """Put the 2xx status of the POST, or the ActuatorError it ended in, into `answer`: DoorUnconfirmed
        for a failure after the request was sent, unless the failure is a non-2xx answer."""
        opener = urllib.request.build_opener(
            _RefuseRedirects(), _MarkedHttpHandler(sending), _MarkedHttpsHandler(sending)
        )
        try:
            with opener.open(request, timeout=self._timeout_s) as response:
                answer.put(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            answer.put(_refusal(door, exc))
        except urllib.error.URLError as exc:  # connect or send: urllib wraps only the request's OSError
            answer.put(_failure(_kind(sending), f"webhook of door {door} unreachable: {exc.reason}", exc))
        except OSError as exc:
            failed = f"webhook of door {door} failed after at most {self._timeout_s} s: {exc!r}"
            answer.put(_failure(_kind(sending), failed, exc))
        except http.client.HTTPException as exc:  # not OSError: a status line that is not HTTP's, say
            reply = f"{type(exc).__name__}: {str(exc)[:80]!r}"
            failed = f"webhook of door {door} gave no valid HTTP answer ({reply})"
            answer.put(_failure(_kind(sending), failed, exc))

    def close(self) -> None:
        """Nothing to release: every unlock opens and closes its own connection."""


def _refusal(door: str, answer: urllib.error.HTTPError) -> ActuatorError:
    """A non-2xx answer: ActuatorError (the unlock was refused, not done), except a gateway's 502 or 504.

    A reverse proxy answers 504 Gateway Timeout when it forwarded the request and the controller behind it
    did not answer in time (RFC 9110 §15.6.5), and 502 Bad Gateway when the answer it got was not a valid
    one (§15.6.3; proxies also send it for a controller that refused the connection, which the gate
    cannot tell apart): the controller may have acted on the unlock, so both are DoorUnconfirmed.
    """
    failed = f"webhook of door {door} answered HTTP {answer.code}"
    if answer.code in _GATEWAY_STATUSES:
        phrase = HTTPStatus(answer.code).phrase
        failed += f" ({phrase}: from a gateway; the door controller behind it may have acted)"
        return _failure(DoorUnconfirmed, failed, answer)
    return _failure(ActuatorError, failed, answer)


def _kind(sending: _Sending) -> type[ActuatorError]:
    """DoorUnconfirmed once the request was sent (the webhook may have acted on it), else ActuatorError."""
    return DoorUnconfirmed if sending.is_sent else ActuatorError


def _failure(kind: type[ActuatorError], message: str, cause: Exception) -> ActuatorError:
    """A `kind` raised from `cause` (E2), to be raised again by the thread that waits for it."""
    error = kind(message)
    error.__cause__ = cause
    return error
