"""Console sessions ended by sign-out: a signed cookie stays valid until it expires unless it is listed here.

The cookie itself is stateless (an HMAC over the key, expiry and nonce); signing out records the nonce
until the cookie's own expiry, so a copy of the cookie taken before sign-out is refused by every server.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Field, Session, SQLModel, col

from storage.inserts import insert_if_absent
from storage.models import _utc_column
from storage.timeutil import as_utc


class EndedConsoleSession(SQLModel, table=True):
    """The nonce of a signed-out console session, kept until the session would have expired."""

    __tablename__ = "ended_console_session"
    nonce: str = Field(primary_key=True, max_length=64)
    key_id: str = Field(foreign_key="api_key.key_id", max_length=32, ondelete="CASCADE")
    expires_at: datetime = Field(sa_column=_utc_column(index=True))


def end_console_session(
    session: Session, *, key_id: str, nonce: str, expires_at: datetime, now: datetime
) -> None:
    """Record that the session `nonce` of key `key_id` ended; forget sessions that have expired anyway.

    Idempotent: signing out twice at once (a double click) records the end once, without a Conflict.
    """
    session.exec(delete(EndedConsoleSession).where(col(EndedConsoleSession.expires_at) <= as_utc(now)))
    values = {"nonce": nonce, "key_id": key_id, "expires_at": as_utc(expires_at)}
    insert_if_absent(session, EndedConsoleSession, values, key=["nonce"])


def is_console_session_ended(session: Session, nonce: str) -> bool:
    """Whether the session with this nonce was signed out."""
    return session.get(EndedConsoleSession, nonce) is not None
