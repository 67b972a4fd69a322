"""Idempotency keys: the stored answer of a create, rename or erase request, replayed when its client
retries it.

A route that honours the `Idempotency-Key` header looks the key up (find_idempotent_response) before its
change and records its answer (record_idempotent_response) in the same transaction as the change, so a
COMMIT whose answer was lost stored both or neither: a retry with the key either replays the answer or runs
the change for the first time. Only `…Public` answers are stored, never a vector, photo or secret.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Text, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, delete, select

from storage.db_errors import redacted, translate
from storage.errors import Conflict, IdempotencyKeyInFlight, IdempotencyKeyReused
from storage.models import _utc_column, utc_now

PURGE_BATCH_ROWS = 500
"""Most expired rows one purge deletes in one transaction: a keyed request's (the next one deletes the next
ones), or a batch of the API server's periodic purge, which repeats it until none are left."""


class IdempotentResponse(SQLModel, table=True):
    """The answer to the first request a caller sent with one idempotency key."""

    __tablename__ = "idempotent_response"
    key_id: str = Field(foreign_key="api_key.key_id", primary_key=True, max_length=32, ondelete="CASCADE")
    idempotency_key: str = Field(primary_key=True, max_length=255)
    route: str = Field(max_length=300, description="Method and path template, e.g. `POST /people`.")
    request_sha256: str = Field(max_length=64, description="Fingerprint of the request (path and body).")
    status_code: int
    person_id: int | None = Field(
        default=None,
        foreign_key="person.id",
        index=True,
        ondelete="CASCADE",
        description="The person the answer names (it holds their name): deleting or erasing them removes it.",
    )
    response_json: str = Field(sa_type=Text, description="The answer's JSON body (a `…Public` model).")
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column(index=True))


@dataclass(frozen=True)
class StoredResponse:
    """A recorded answer: its HTTP status and its JSON body (a `…Public` model)."""

    status_code: int
    response_json: str
    person_id: int | None = None
    """The person the answer names, if any: the stored answer goes when they are deleted or erased."""


@dataclass(frozen=True)
class IdempotentRequest:
    """Who sent which key with which request: what a stored answer is matched against."""

    key_id: str
    """The caller's API key id: a key is scoped to its caller."""
    idempotency_key: str
    route: str
    request_sha256: str


def _advisory_lock_id(request: IdempotentRequest) -> int:
    digest = hashlib.sha256(f"{request.key_id}\0{request.idempotency_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _claim(session: Session, request: IdempotentRequest) -> None:
    """On PostgreSQL, hold the key until the caller's transaction ends, or raise IdempotencyKeyInFlight.

    SQLite has no such lock: it lets one writer through at a time, and the primary key refuses a second
    answer for the key when it is recorded (record_idempotent_response).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    is_held = session.exec(select(func.pg_try_advisory_xact_lock(_advisory_lock_id(request)))).one()
    if not is_held:
        raise IdempotencyKeyInFlight(
            f"a request with idempotency key {request.idempotency_key!r} is still being processed"
        )


def purge_idempotent_responses(session: Session, *, created_before: datetime) -> int:
    """Delete up to PURGE_BATCH_ROWS answers recorded before `created_before`; returns how many.

    Rows another transaction holds are skipped on PostgreSQL (no request waits on another's purge).
    """
    expired = session.exec(
        select(IdempotentResponse.key_id, IdempotentResponse.idempotency_key)
        .where(col(IdempotentResponse.created_at) < created_before)
        .limit(PURGE_BATCH_ROWS)
        .with_for_update(skip_locked=True)
    ).all()
    for key_id, idempotency_key in expired:
        session.exec(
            delete(IdempotentResponse).where(
                col(IdempotentResponse.key_id) == key_id,
                col(IdempotentResponse.idempotency_key) == idempotency_key,
            )
        )
    return len(expired)


def find_idempotent_response(
    session: Session, request: IdempotentRequest, *, created_since: datetime
) -> StoredResponse | None:
    """The answer recorded for `request`'s key since `created_since` (older ones are expired and purged),
    or None when the request is the key's first. On PostgreSQL the key is held until the caller's
    transaction ends, so a concurrent request with it is refused rather than run twice.

    Raises:
        IdempotencyKeyInFlight: another request with this key is still being processed (PostgreSQL).
        IdempotencyKeyReused: the key was used with another route or request body.
    """
    _claim(session, request)
    purge_idempotent_responses(session, created_before=created_since)
    row = session.get(IdempotentResponse, (request.key_id, request.idempotency_key))
    if row is None:
        return None
    if row.route != request.route or row.request_sha256 != request.request_sha256:
        raise IdempotencyKeyReused(
            f"idempotency key {request.idempotency_key!r} was used with another request; use a new key"
        )
    return StoredResponse(row.status_code, row.response_json, person_id=row.person_id)


def record_idempotent_response(
    session: Session, request: IdempotentRequest, response: StoredResponse, *, now: datetime
) -> None:
    """Store `response` as the answer to `request`, in the caller's transaction (with its change).

    Raises:
        IdempotencyKeyInFlight: another request with this key recorded its answer meanwhile (SQLite,
            where nothing holds the key before); the caller's transaction must roll back.
    """
    session.add(IdempotentResponse(**asdict(request), **asdict(response), created_at=now))
    try:
        session.flush()
    except IntegrityError as exc:
        error = translate(exc)
        if not isinstance(error, Conflict):  # the caller's key was deleted meanwhile, say
            raise error from redacted(exc)
        raise IdempotencyKeyInFlight(
            f"another request with idempotency key {request.idempotency_key!r} was processed meanwhile"
        ) from redacted(exc)
