"""API keys: random tokens stored as sha256 digests, looked up by a public key id (F5).

A key is checked against the database on every request (no cache): a revoked or expired key fails
at its next use, in every running server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.errors import InvalidValue, NotFound
from storage.models import ApiKey, ApiKeyPublic, Role
from storage.timeutil import as_utc

TOKEN_PREFIX = "fg"
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""`last_used_at` is written at most this often per key, so reads do not turn into writes."""


class AuthFailure(StrEnum):
    """Why a presented token was refused (audited; never the token itself)."""

    malformed = "api_key_malformed"
    unknown = "api_key_unknown"
    wrong_secret = "api_key_wrong_secret"
    revoked = "api_key_revoked"
    expired = "api_key_expired"
    wrong_role = "api_key_wrong_role"
    """A valid key of a role refused where it was sent (a device key at the console's sign-in): the
    caller's decision (api.auth.Authenticator's `roles`), never `authenticate`'s."""


@dataclass(frozen=True)
class AuthResult:
    """The key a token authenticated, or why it did not. `token_id` is set when the id part is known."""

    key: ApiKey | None
    failure: AuthFailure | None = None
    token_id: str | None = None


def _digest(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    session: Session, *, role: Role, label: str, now: datetime, expires_at: datetime | None = None
) -> tuple[str, ApiKeyPublic]:
    """Create a key; the returned token is shown once and never stored (only its digest is).

    Raises:
        InvalidValue: `expires_at` is not after `now`.
    """
    if expires_at is not None and as_utc(expires_at) <= as_utc(now):
        raise InvalidValue(f"the expiry {expires_at.isoformat()} is not in the future")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        key_id=key_id,
        secret_sha256=_digest(secret),
        role=role,
        label=label,
        created_at=as_utc(now),
        expires_at=as_utc(expires_at) if expires_at is not None else None,
    )
    session.add(row)
    session.flush()
    return f"{TOKEN_PREFIX}_{key_id}_{secret}", api_key_public(row)


def authenticate(session: Session, token: str, *, now: datetime) -> AuthResult:
    """Check a token: known id, right secret (constant-time), not revoked, not expired at `now`.

    A successful check records `last_used_at` (at most once per LAST_USED_RESOLUTION).
    """
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not key_id or not secret:
        return AuthResult(None, AuthFailure.malformed)
    row = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
    if row is None:
        return AuthResult(None, AuthFailure.unknown)
    failure = _refusal(row, secret, now=now)
    if failure is not None:
        return AuthResult(None, failure, token_id=key_id)
    if row.last_used_at is None or now - as_utc(row.last_used_at) >= LAST_USED_RESOLUTION:
        session.exec(update(ApiKey).where(col(ApiKey.id) == row.id).values(last_used_at=as_utc(now)))
    return AuthResult(row, token_id=key_id)


def _refusal(row: ApiKey, secret: str, *, now: datetime) -> AuthFailure | None:
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return AuthFailure.wrong_secret
    if row.revoked_at is not None:
        return AuthFailure.revoked
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return AuthFailure.expired
    return None


def api_key_public(row: ApiKey) -> ApiKeyPublic:
    """The listable view of a key: no secret, no digest."""

    def aware(value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

    return ApiKeyPublic(
        token_id=row.key_id,
        role=row.role,
        label=row.label,
        created_at=as_utc(row.created_at),
        expires_at=aware(row.expires_at),
        last_used_at=aware(row.last_used_at),
        revoked_at=aware(row.revoked_at),
    )


def list_api_keys(session: Session, *, offset: int = 0, limit: int = 100) -> tuple[list[ApiKeyPublic], int]:
    """One page of keys, oldest first, revoked ones included, and the total count."""
    total = int(session.exec(select(func.count()).select_from(ApiKey)).one())
    rows = session.exec(select(ApiKey).order_by(col(ApiKey.id)).offset(offset).limit(limit)).all()
    return [api_key_public(row) for row in rows], total


def revoke_api_key(session: Session, token_id: str, *, now: datetime) -> ApiKeyPublic:
    """Revoke a key from `now` on (revoking it again keeps the first time).

    Raises:
        NotFound: no key has this id.
    """
    row = session.exec(select(ApiKey).where(ApiKey.key_id == token_id)).first()
    if row is None:
        raise NotFound(f"API key {token_id} does not exist")
    if row.revoked_at is None:  # only while still unrevoked: another revocation may have committed since
        unrevoked = (col(ApiKey.id) == row.id) & col(ApiKey.revoked_at).is_(None)
        session.exec(update(ApiKey).where(unrevoked).values(revoked_at=as_utc(now)))
        session.refresh(row)
    return api_key_public(row)


def has_api_key(session: Session, *, role: Role, now: datetime) -> bool:
    """Whether a key with this role is usable at `now` (neither revoked nor expired)."""
    unexpired = col(ApiKey.expires_at).is_(None) | (col(ApiKey.expires_at) > as_utc(now))
    query = select(ApiKey.id).where(ApiKey.role == role, col(ApiKey.revoked_at).is_(None), unexpired)
    return session.exec(query).first() is not None


def find_api_key(session: Session, key_id: str, *, now: datetime) -> ApiKey | None:
    """The key with this public id if it is usable at `now` (not revoked, not expired), else None.

    A console session re-checks its key with it on every request, so revoking the key ends the session.
    """
    row = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return None
    return row
