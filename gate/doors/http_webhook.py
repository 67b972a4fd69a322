"""A door opened by an HTTP POST to a webhook (a door controller, Home Assistant, Node-RED)."""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from email.message import Message
from typing import IO

from pydantic import SecretStr

from gate.errors import ActuatorError

logger = logging.getLogger(__name__)


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


class HttpWebhookDoor:
    """POSTs `{"door", "action": "unlock", "duration_s", "at"}` as JSON; any answer but 2xx is a failure."""

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
        self._opener = urllib.request.build_opener(_RefuseRedirects())

    def _request(self, *, door: str, duration_s: float) -> urllib.request.Request:
        body = {"door": door, "action": "unlock", "duration_s": duration_s, "at": self._utc_now().isoformat()}
        headers = {"Content-Type": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return urllib.request.Request(
            self._url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )

    def unlock(self, *, door: str, duration_s: float) -> None:
        """POST the unlock and wait at most `timeout_s` for a 2xx answer.

        The POST runs on a thread of its own: a socket timeout bounds each read, not the answer, so a
        webhook that sends its answer a byte at a time (or a host name whose resolver does not answer)
        would hold the gate loop past `timeout_s`. The thread ends at its socket's timeout; an answer that
        comes after `timeout_s` is not waited for (the grant is door_error, though the door may open).

        Raises:
            ActuatorError: the webhook answered with a status other than 2xx or not in HTTP, gave no
                complete answer within `timeout_s` or was unreachable.
        """
        request = self._request(door=door, duration_s=duration_s)
        answer: queue.SimpleQueue[int | ActuatorError] = queue.SimpleQueue()
        thread = threading.Thread(
            target=self._post, args=(request, door, answer), name=f"webhook-{door}", daemon=True
        )
        thread.start()
        try:
            status = answer.get(timeout=self._timeout_s)
        except queue.Empty:
            raise ActuatorError(
                f"webhook of door {door} gave no complete answer within {self._timeout_s} s"
            ) from None
        if isinstance(status, ActuatorError):
            raise status
        logger.info("door %s unlocked for %.1f s by webhook (HTTP %d)", door, duration_s, status)

    def _post(
        self, request: urllib.request.Request, door: str, answer: queue.SimpleQueue[int | ActuatorError]
    ) -> None:
        """Put the 2xx status of the POST, or the ActuatorError it ended in, into `answer`."""
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                answer.put(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            answer.put(_failure(f"webhook of door {door} answered HTTP {exc.code}", exc))
        except urllib.error.URLError as exc:
            answer.put(_failure(f"webhook of door {door} unreachable: {exc.reason}", exc))
        except OSError as exc:
            failed = f"webhook of door {door} failed after at most {self._timeout_s} s: {exc!r}"
            answer.put(_failure(failed, exc))
        except http.client.HTTPException as exc:  # not OSError: a status line that is not HTTP's, say
            reply = f"{type(exc).__name__}: {str(exc)[:80]!r}"
            answer.put(_failure(f"webhook of door {door} gave no valid HTTP answer ({reply})", exc))

    def close(self) -> None:
        """Nothing to release: every unlock opens and closes its own connection."""


def _failure(message: str, cause: Exception) -> ActuatorError:
    """An ActuatorError raised from `cause` (E2), to be raised again by the thread that waits for it."""
    error = ActuatorError(message)
    error.__cause__ = cause
    return error
