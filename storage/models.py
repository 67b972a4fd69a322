"""SQLModel tables and the public shapes the API returns (no ciphertext, nonce or key field)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import FiniteFloat
from sqlalchemy import JSON, Column, DateTime, LargeBinary, String, Text
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


def _utc_column(*, index: bool = False, nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class Role(StrEnum):
    admin = "admin"
    auditor = "auditor"
    device = "device"


class Decision(StrEnum):
    """What an audit event records: an access decision, or (`recorded`) an event of the audit log itself."""

    granted = "granted"
    denied = "denied"
    recorded = "recorded"


class Person(SQLModel, table=True):
    """Its id is never handed out again, also on SQLite: the audit log keeps it after the person is gone."""

    __table_args__ = {"sqlite_autoincrement": True}
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
    quality: dict[str, float] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="Quality measures of the enrollment photo's face (null before migration 0008).",
    )
    lookalikes: bytes | None = Field(
        default=None,
        sa_column=Column(LargeBinary, nullable=True),
        description="Nonce and AES-GCM ciphertext of its look-alike neighbours at enrollment (person ids "
        "and cosines, recognition's byte form) under the same data key; null: a gate searches them.",
    )


class Door(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, min_length=1, max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class DoorFormerName(SQLModel, table=True):
    """A name a door had before a rename: gates configured with it still find the door (storage.access).

    No door may take a former name of another, so a gate's configured name never moves to a new door.
    """

    __tablename__ = "door_former_name"
    name: str = Field(primary_key=True, min_length=1, max_length=100)
    door_id: int = Field(foreign_key="door.id", index=True, ondelete="CASCADE")
    renamed_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class GalleryVersion(SQLModel, table=True):
    """A single row bumped on every enrollment or deletion; gates poll it (A2)."""

    __tablename__ = "gallery_version"
    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
    changes_since: int = Field(
        default=0, description="The change log covers every version after this one (reset by a restore)."
    )


# Random, new at each restore: a gallery is known by its version and epoch together (a restore may number
# another gallery as a gate's held version). A column of the table but not of the ORM row, which every
# writer locks and bumps and never needs it: gates read it and a restore writes it with Core
# (gallery_log.gallery_stamp, backup.restore_backup).
GalleryVersion.__table__.append_column(  # type: ignore[attr-defined]
    Column("epoch", String(32), nullable=False, server_default="")
)


class GalleryChangeKind(StrEnum):
    template_added = "template_added"
    person_removed = "person_removed"
    access_changed = "access_changed"


class GalleryChange(SQLModel, table=True):
    """One change in the gallery change log, tagged with the version whose bump committed it.

    A row is written with no version and stamped by the bump in the same transaction, so a reader
    sees a version's changes exactly when it sees the version.
    """

    __tablename__ = "gallery_change"
    id: int | None = Field(default=None, primary_key=True)
    version: int | None = Field(default=None, index=True)
    kind: GalleryChangeKind = Field(max_length=20)
    person_id: int | None = Field(default=None, description="No foreign key: removed people stay logged.")
    template_id: str | None = Field(default=None, max_length=32)


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
    pad_model_id: str | None = Field(
        default=None, max_length=100, description="Presentation-attack model id."
    )
    pad_weights_hash: str | None = Field(
        default=None, max_length=64, description="Hex sha256 of its weights."
    )
    pad_score: float | None = Field(default=None, description="Track attack score (0..1, higher: attack).")
    pad_threshold: float | None = Field(default=None, description="Attack score above which PAD denies.")
    pad_cues: str | None = Field(
        default=None, sa_type=Text, description="JSON: PAD policy, would-be verdict and each cue's value."
    )
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
    expires_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    last_used_at: datetime | None = Field(
        default=None,
        sa_column=_utc_column(nullable=True),
        description="Last successful authentication, recorded at most once a minute.",
    )
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class TemplatePublic(SQLModel):
    """What an admin may see of a stored template: never the vector, its ciphertext or its key."""

    id: str
    person_id: int
    model_id: str
    source_name: str = Field(description="File name of the photo it was enrolled from.")
    created_at: datetime
    quality: dict[str, float] | None = Field(
        description="face_px, sharpness_laplacian_var, yaw_deg, pitch_deg, mean_grey_level, "
        "clipped_fraction, detector_score of the enrollment photo (null when it predates them)."
    )


class PersonPublic(SQLModel):
    id: int
    name: str
    created_at: datetime
    template_count: int = Field(
        description="Templates of the running embedding model: what its galleries search (0: this person is "
        "not recognised, even with templates of other models)."
    )
    other_model_template_count: int = Field(
        0,
        description="Templates of other models (enrolled before a model switch): no gallery of the running "
        "model holds them; the person is enrolled again to be recognised.",
    )


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
    pad_model_id: str | None = None
    pad_weights_hash: str | None = None
    pad_score: float | None = None
    pad_threshold: float | None = None
    pad_cues: str | None = None
    event_uid: str | None = Field(
        default=None,
        description="The writer's id for the event; a gate grant's is the unlock_id its door was sent.",
    )
    sequence: int
    link_hash: str


MAX_DB_INT = 2**31 - 1
"""Largest value of an integer column (PostgreSQL int4): inputs are bounded to it, never a 500."""
MAX_PAD_CUES_CHARS = 4000
"""Longest PAD cues JSON a device may post: the column is unbounded text, the request is not."""


class AuditEventCreate(SQLModel):
    door: str = Field(max_length=100)
    source: str = Field(max_length=500)
    track_id: int | None = Field(default=None, ge=-MAX_DB_INT, le=MAX_DB_INT)
    decision: Decision
    reason: str = Field(max_length=100)
    person_id: int | None = Field(default=None, ge=-MAX_DB_INT, le=MAX_DB_INT)
    # Finite only: SQLite stores NaN as NULL, which would break the event's HMAC.
    score: FiniteFloat | None = None
    threshold: FiniteFloat | None = None
    model_id: str = Field(max_length=100)
    event_uid: str | None = Field(default=None, max_length=36)
    weights_hash: str | None = Field(default=None, max_length=64)
    margin: FiniteFloat | None = None
    quality: FiniteFloat | None = None
    rule: str | None = Field(default=None, max_length=100)
    pad_model_id: str | None = Field(default=None, max_length=100)
    pad_weights_hash: str | None = Field(default=None, max_length=64)
    pad_score: FiniteFloat | None = None
    pad_threshold: FiniteFloat | None = None
    pad_cues: str | None = Field(default=None, max_length=MAX_PAD_CUES_CHARS)
    occurred_at: datetime | None = None


class ApiKeyPublic(SQLModel):
    """An API key as listed: never its secret or digest. `token_id` is the public middle of the token."""

    token_id: str = Field(description="Public id of the key: the part between `fg_` and the secret.")
    role: Role
    label: str
    created_at: datetime
    expires_at: datetime | None = Field(description="After this instant the key gets 401; null: never.")
    last_used_at: datetime | None = Field(
        description="Last successful authentication (updated at most once a minute); null: never used."
    )
    revoked_at: datetime | None = Field(description="When the key was revoked; null: not revoked.")
