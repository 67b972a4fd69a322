"""Why an http(s) camera did not open: one GET with the standard library, read to its headers only.

OpenCV reports a failed open as a bare False, whatever FFmpeg met (a 401, a 404, a refused connection, a
TLS failure), and FFmpeg's own words go to stderr as plain text only. So after a failed open the gate asks
the camera once itself. Over https the probe does not verify the certificate (FFmpeg's default, `tls_verify`
0), so a camera's self-signed certificate is not given as the cause of a failure it did not cause. The answer
says only the status, the authentication scheme a 401 asks for, or the connection's error: never the password
(it is replaced in every text the probe returns) nor the body.

Many cameras lock an account (or an address) out after a few failed logins, and FFmpeg's reopen already
spends one each time, so the probe asks without the URL's credentials first: that is no login. Only when
the camera then asks for one does it log in as FFmpeg did (the URL's user name and password, as Basic), and
at most once per `LOGIN_PROBE_INTERVAL_S`; in between, that answer stands.

The probe keeps to the deadline of the open it explains (the open's start + the camera timeout): its GETs
run on a thread of their own, which it waits for until then, since a socket timeout bounds each connect
and read but not a host name lookup (FFmpeg's open had just waited as long for the same resolver) nor an
answer sent a byte at a time; what has not answered by then is "no answer within <timeout> s".
"""

from __future__ import annotations

import base64
import http.client
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

_MAX_REASON_CHARS = 80  # a status line's reason phrase is the camera's text: kept short in the log
LOGIN_PROBE_INTERVAL_S = 600.0
"""How often a camera that keeps refusing to open is asked again with the URL's login (see the module)."""


class OpenFailureProbe:
    """Why one http(s) camera does not open: a GET read up to its headers, after each failed open.

    Holds the last answer to a login, so that a camera whose outage lasts hours is sent the URL's user name
    and password by the probe once per `LOGIN_PROBE_INTERVAL_S` on `monotonic`, not at every reopen.
    """

    def __init__(
        self, url: str, *, timeout_s: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self._login_answer: tuple[float, str] | None = None  # when the last login probe ran, and its answer

    def cause(self, *, deadline_s: float) -> str:
        """The cause of a failed open, for a log line ("HTTP 404 Not Found", "connection refused", ...).

        The URL's password never appears in it. The probe, both its GETs included, ends by `deadline_s` on
        `monotonic`: an answer not complete by then is "no answer within `timeout_s` s".
        """
        parts = urlsplit(self._url)
        answer = self._answer_by(deadline_s, is_login=False)
        if parts.username is None or not answer.startswith(f"HTTP {http.client.UNAUTHORIZED} "):
            self._login_answer = None  # the camera asks for no login now: the next 401 is asked afresh
            return _without(answer, parts.password)
        now_s = self._monotonic()
        if self._login_answer is None or now_s - self._login_answer[0] >= LOGIN_PROBE_INTERVAL_S:
            self._login_answer = now_s, self._answer_by(deadline_s, is_login=True)
        return _without(self._login_answer[1], parts.password)

    def _answer_by(self, deadline_s: float, *, is_login: bool) -> str:
        """One GET's answer, waited for on its own daemon thread until `deadline_s`; the thread, left behind
        in a host name lookup, ends with it (each socket call keeps to the time that was left)."""
        no_answer = f"no answer within {self._timeout_s:g} s"
        left_s = min(self._timeout_s, deadline_s - self._monotonic())
        if left_s <= 0:
            return no_answer
        answers: queue.SimpleQueue[str] = queue.SimpleQueue()

        def ask() -> None:
            answers.put(_answer(self._url, timeout_s=left_s, is_login=is_login, no_answer=no_answer))

        threading.Thread(target=ask, name="camera-probe", daemon=True).start()
        try:
            return answers.get(timeout=left_s)
        except queue.Empty:
            return no_answer


def _answer(url: str, *, timeout_s: float, is_login: bool, no_answer: str) -> str:
    """What one GET met, in words; `no_answer` when a socket call timed out after `timeout_s`."""
    try:
        return _ask(url, timeout_s=timeout_s, is_login=is_login)
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return no_answer
    except socket.gaierror as exc:
        return f"host name {urlsplit(url).hostname!r} not resolved ({exc.strerror})"
    except ssl.SSLError as exc:
        return f"TLS error: {exc.reason or exc}"
    except http.client.HTTPException as exc:
        return f"not an HTTP answer ({type(exc).__name__})"  # its text is the camera's bytes: left out
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _ask(url: str, *, timeout_s: float, is_login: bool) -> str:
    """One GET of `url`, with its user name and password when `is_login`: its status and, for a 401, the
    scheme asked for (raises what the connection met)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    connection: http.client.HTTPConnection
    if parts.scheme.lower() == "https":
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # as FFmpeg: see the module doc
        connection = http.client.HTTPSConnection(host, parts.port, timeout=timeout_s, context=context)
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout_s)
    headers = {"Accept": "*/*"}
    if is_login and parts.username is not None:
        user_password = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(user_password).decode("ascii")
    path = parts.path or "/"
    try:
        connection.request("GET", f"{path}?{parts.query}" if parts.query else path, headers=headers)
        response = connection.getresponse()  # the status line and headers; the body is never read
        status = f"HTTP {response.status} {response.reason[:_MAX_REASON_CHARS]}".rstrip()
        if response.status == http.client.UNAUTHORIZED:
            return f"{status}: {_refusal(response.getheader('WWW-Authenticate'), user=parts.username)}"
        if 200 <= response.status < 300:
            kind = response.getheader("Content-Type", "no Content-Type")[:_MAX_REASON_CHARS]
            return f"{status} ({kind}), but no stream OpenCV could read"
        return status
    finally:
        connection.close()


def _refusal(challenge: str | None, *, user: str | None) -> str:
    """What a 401 means: no user in the URL, its credentials refused, or another scheme asked for."""
    scheme = (challenge or "").split(" ", 1)[0].strip() or "no scheme named"
    if user is None:
        return f"the camera asks for a user name and password ({scheme}); the URL has none"
    if scheme.lower() == "basic":
        return "the camera refused the URL's user name and password"
    return f"the camera asks for {scheme[:_MAX_REASON_CHARS]} authentication (the probe sent Basic)"


def _without(text: str, password: str | None) -> str:
    """`text` with the URL's password (as written and decoded) replaced by `***`."""
    for secret in {password, unquote(password)} if password else set():
        if secret:
            text = text.replace(secret, "***")
    return text
