"""Console sessions: an HMAC-signed cookie naming an API key, and CSRF tokens bound to it.

The cookie is `key_id.expires_at.nonce.signature`; it never holds the key's secret. The signature also
covers the key's stored digest, so a session ends when its key is revoked or deleted: every request
looks the key up again. The CSRF token of a session is an HMAC of its nonce, so it is bound to the
session and needs no server-side state.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "fg_session"
LOGIN_COOKIE = "fg_login"
"""Holds the nonce of the sign-in form's CSRF token until the form is posted."""
_EXPIRY = re.compile(r"[0-9]{1,12}")
"""A cookie's expiry, Unix seconds: ASCII digits only (str.isdigit admits '²', which int() refuses) and
short enough for int() (which refuses over 4300 digits)."""


@dataclass(frozen=True)
class SessionClaims:
    """What a session cookie says, before its key is looked up."""

    key_id: str
    expires_at_s: int
    """Unix time after which the session is refused."""
    nonce: str


class SessionSigner:
    """Signs and checks session cookies and CSRF tokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, *parts: str) -> str:
        return hmac.new(self._secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()

    def issue(self, *, key_id: str, key_digest: str, now_s: float, lifetime_s: int) -> str:
        """A new cookie value for the key `key_id` whose stored digest is `key_digest`."""
        claims = SessionClaims(
            key_id=key_id, expires_at_s=int(now_s) + lifetime_s, nonce=secrets.token_urlsafe(16)
        )
        payload = f"{claims.key_id}.{claims.expires_at_s}.{claims.nonce}"
        return f"{payload}.{self._mac('session', payload, key_digest)}"

    def claims(self, cookie: str, *, now_s: float) -> SessionClaims | None:
        """The cookie's claims if it is well formed and not expired (its signature is checked by `verify`)."""
        parts = cookie.split(".")
        if len(parts) != 4 or not _EXPIRY.fullmatch(parts[1]):
            return None
        claims = SessionClaims(key_id=parts[0], expires_at_s=int(parts[1]), nonce=parts[2])
        return claims if claims.expires_at_s > now_s else None

    def verify(self, cookie: str, *, key_digest: str) -> bool:
        """Whether the cookie was issued by this signer for the key whose stored digest is `key_digest`."""
        payload, _, signature = cookie.rpartition(".")
        return _equal(signature, self._mac("session", payload, key_digest))

    def csrf_token(self, nonce: str) -> str:
        """The CSRF token that forms of the session (or sign-in form) with this nonce must send back."""
        return self._mac("csrf", nonce)

    def is_csrf_valid(self, nonce: str, token: str) -> bool:
        return _equal(token, self.csrf_token(nonce))


def _equal(sent: str, expected: str) -> bool:
    """Constant-time comparison of what a client sent (any text) with an expected hex MAC: as bytes, since
    hmac.compare_digest raises TypeError for a str with a non-ASCII character."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode())
