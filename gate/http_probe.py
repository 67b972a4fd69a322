"""Why an http(s) camera did not open: one GET with the standard library, read to its headers only.

OpenCV reports a failed open as a bare False, whatever FFmpeg met (a 401, a 404, a refused connection, a
TLS failure), and FFmpeg's own words go to stderr as plain text only. So after a failed open the gate asks
the camera once itself. The probe sends what FFmpeg sends: the URL's user name and password (as Basic
authentication), and over https it does not verify the certificate (FFmpeg's default, `tls_verify` 0), so a
camera's self-signed certificate is not given as the cause of a failure it did not cause. The answer says
only the status, the authentication scheme a 401 asks for, or the connection's error: never the password
(it is replaced in every text the probe returns) nor the body.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
from urllib.parse import unquote, urlsplit

_MAX_REASON_CHARS = 80  # a status line's reason phrase is the camera's text: kept short in the log


def http_open_failure(url: str, *, timeout_s: float) -> str:
    """The cause of a failed open of the http(s) `url`, from one GET read up to its headers.

    Returns a text for a log line ("HTTP 404 Not Found", "connection refused", "TLS error: ..."); the
    password of the URL never appears in it. Each connect and read waits at most `timeout_s`.
    """
    password = urlsplit(url).password
    return _without(_answer(url, timeout_s=timeout_s), password)


def _answer(url: str, *, timeout_s: float) -> str:
    try:
        return _ask(url, timeout_s=timeout_s)
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except socket.gaierror as exc:
        return f"host name {urlsplit(url).hostname!r} not resolved ({exc.strerror})"
    except ssl.SSLError as exc:
        return f"TLS error: {exc.reason or exc}"
    except http.client.HTTPException as exc:
        return f"not an HTTP answer ({type(exc).__name__})"  # its text is the camera's bytes: left out
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _ask(url: str, *, timeout_s: float) -> str:
    """One GET of `url`: its status and, for a 401, the scheme asked for (raises what the connection met)."""
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
    if parts.username is not None:
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
