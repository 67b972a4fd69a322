"""SQLModel tables and the public shapes the API returns (no ciphertext, nonce or key field)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import FiniteFloat
from sqlalchemy import Column, DateTime, LargeBinary
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


def _utc_column(*, index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False, index=index)


class Role(StrEnum):
    admin = "admin"
    auditor = "auditor"
    device = "device"


class Decision(StrEnum):
    granted = "granted"
    denied = "denied"


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(min_length=1, max_length=200)
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class PersonKey(SQLModel, table=True):
    """A person's AES-256 data key, wrapped by a master key (envelope encryption).

    Deleting this row makes every copy of the person's templates unreadable (crypto-shredding).
    """

    __tablename__ = "person_key"
    person_id: int = Field(foreign_key="person.id", primary_key=True, ondelete="CASCADE")
    master_key_id: str = Field(max_length=64, index=True, description="Id of the master key that wraps it.")
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class FaceTemplate(SQLModel, table=True):
    """One embedding encrypted under its person's data key (`key_id` is that key's fingerprint).

    The AES-GCM associated data binds it to (id, person_id, model_id).
    """

    __tablename__ = "face_template"
    id: str = Field(primary_key=True, max_length=32)
    person_id: int = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    model_id: str = Field(max_length=100, index=True)
    key_id: str = Field(max_length=32)
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    source_name: str = Field(max_length=255, description="Uploaded file name, for the admin's reference.")
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class Door(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, min_length=1, max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class GalleryVersion(SQLModel, table=True):
    """A single row bumped on every enrollment or deletion; gates poll it (A2)."""

    __tablename__ = "gallery_version"
    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)


class AuditEvent(SQLModel, table=True):
    """Append-only: storage/audit.py inserts and queries, nothing updates or deletes.

    Each event is a link of a hash chain: `link_hash` is an HMAC over its content, its sequence number
    and `prev_hash`, the link of the event before it (storage/audit_chain.py).
    """

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    sequence: int = Field(unique=True, description="Position in the hash chain: 1, 2, 3, ... without gaps.")
    occurred_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column(index=True))
    door: str = Field(max_length=100, index=True)
    source: str = Field(max_length=500, description="Camera or stream the decision came from.")
    track_id: int | None = None
    decision: Decision = Field(index=True)
    reason: str = Field(max_length=100)
    person_id: int | None = Field(default=None, index=True, description="Kept after the person is deleted.")
    score: float | None = None
    threshold: float | None = None
    model_id: str = Field(max_length=100)
    event_uid: str | None = Field(
        default=None,
        unique=True,
        max_length=36,
        description="The writer's id for the event (a gate journal entry): redelivery cannot duplicate it.",
    )
    weights_hash: str | None = Field(
        default=None, max_length=64, description="Hex sha256 of the model weights."
    )
    margin: float | None = Field(default=None, description="Best score minus the runner-up identity's score.")
    quality: float | None = Field(default=None, description="Face quality of the deciding frames (0 to 1).")
    rule: str | None = Field(default=None, max_length=100, description="The decision rule that decided.")
    chain_key_id: str = Field(
        max_length=32, description="Id of the master key the link HMAC was derived from."
    )
    prev_hash: str = Field(
        max_length=64, description="Hex link of the previous event (genesis for the first)."
    )
    link_hash: str = Field(max_length=64, description="Hex HMAC-SHA256 over this event and prev_hash.")


class AuditChainHead(SQLModel, table=True):
    """The single row every append locks: the last sequence number and link of the audit chain."""

    __tablename__ = "audit_chain_head"
    id: int = Field(default=1, primary_key=True)
    sequence: int = Field(default=0, ge=0)
    link_hash: str = Field(max_length=64)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(unique=True, index=True, max_length=32)
    secret_sha256: str = Field(max_length=64)
    role: Role
    label: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class PersonPublic(SQLModel):
    id: int
    name: str
    created_at: datetime
    template_count: int


class AuditEventPublic(SQLModel):
    id: int
    occurred_at: datetime
    door: str
    source: str
    track_id: int | None
    decision: Decision
    reason: str
    person_id: int | None
    score: float | None
    threshold: float | None
    model_id: str
    weights_hash: str | None
    margin: float | None
    quality: float | None
    rule: str | None
    sequence: int
    link_hash: str


class AuditEventCreate(SQLModel):
    door: str
    source: str
    track_id: int | None = None
    decision: Decision
    reason: str
    person_id: int | None = None
    # Finite only: SQLite stores NaN as NULL, which would break the event's HMAC.
    score: FiniteFloat | None = None
    threshold: FiniteFloat | None = None
    model_id: str
    event_uid: str | None = Field(default=None, max_length=36)
    weights_hash: str | None = Field(default=None, max_length=64)
    margin: FiniteFloat | None = None
    quality: FiniteFloat | None = None
    rule: str | None = Field(default=None, max_length=100)
    occurred_at: datetime | None = None


class ApiKeyPublic(SQLModel):
    key_id: str
    role: Role
    label: str
    created_at: datetime
