"""A door opened by an HTTP POST to a webhook (a door controller, Home Assistant, Node-RED)."""

from __future__ import annotations

import http.client
import json
import logging
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

        Raises:
            ActuatorError: the webhook answered with a status other than 2xx or not in HTTP, timed out or was
                unreachable.
        """
        request = self._request(door=door, duration_s=duration_s)
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            raise ActuatorError(f"webhook of door {door} answered HTTP {exc.code}") from exc
        except urllib.error.URLError as exc:
            raise ActuatorError(f"webhook of door {door} unreachable: {exc.reason}") from exc
        except OSError as exc:
            raise ActuatorError(
                f"webhook of door {door} failed after at most {self._timeout_s} s: {exc!r}"
            ) from exc
        except http.client.HTTPException as exc:  # not OSError: a status line that is not HTTP's, say
            answer = f"{type(exc).__name__}: {str(exc)[:80]!r}"
            raise ActuatorError(f"webhook of door {door} gave no valid HTTP answer ({answer})") from exc
        logger.info("door %s unlocked for %.1f s by webhook (HTTP %d)", door, duration_s, status)

    def close(self) -> None:
        """Nothing to release: every unlock opens and closes its own connection."""
