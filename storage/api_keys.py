"""API keys: random tokens stored as sha256 digests, looked up by a public key id (F5)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlmodel import Session, col, select

from storage.models import ApiKey, ApiKeyPublic, Role
from storage.timeutil import as_utc

TOKEN_PREFIX = "fg"


def _digest(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, *, role: Role, label: str) -> tuple[str, ApiKey]:
    """Create a key; the returned token is shown once and never stored."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(key_id=key_id, secret_sha256=_digest(secret), role=role, label=label)
    session.add(row)
    session.flush()
    return f"{TOKEN_PREFIX}_{key_id}_{secret}", row


def authenticate(session: Session, token: str) -> ApiKey | None:
    """The key a token belongs to, or None. The secret is compared in constant time."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not key_id or not secret:
        return None
    row = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return row


def list_api_keys(session: Session) -> list[ApiKeyPublic]:
    rows = session.exec(select(ApiKey).order_by(col(ApiKey.id))).all()
    return [
        ApiKeyPublic(key_id=row.key_id, role=row.role, label=row.label, created_at=as_utc(row.created_at))
        for row in rows
    ]


def has_api_key(session: Session, *, role: Role) -> bool:
    return session.exec(select(ApiKey.id).where(ApiKey.role == role)).first() is not None


def find_api_key(session: Session, key_id: str) -> ApiKey | None:
    """The key with this public id, or None; a console session re-checks its key with it on every request."""
    return session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
