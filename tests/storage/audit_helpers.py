"""Audit-chain test helpers: events, appends, who erases, verification, the raw SQL an attacker would run,
and an older schema to upgrade from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text

import storage
from storage import (
    AuditEventCreate,
    ChainReport,
    Checkpoint,
    Cipher,
    Decision,
    Engine,
    ErasedBy,
    append_event,
    append_new_events,
    session_scope,
    verify_chain,
)

T0 = datetime(2030, 1, 2, 8, 0, 0, 123456, tzinfo=UTC)
GENESIS = "0" * 64
EVENTS = 10


def event(index: int, *, source: str = "rtsp://cam-1") -> AuditEventCreate:
    """Event `index`: even ones granted to person index, odd ones denied."""
    granted = index % 2 == 0
    return AuditEventCreate(
        door="front",
        source=source,
        track_id=index,
        decision=Decision.granted if granted else Decision.denied,
        reason="match" if granted else "unknown",
        person_id=index if granted else None,
        score=0.5 + index / 1000,
        threshold=0.363,
        model_id="sface-2021dec",
        occurred_at=T0 + timedelta(seconds=index),
    )


def audited_by(keyring: Cipher, *, who: str = "test admin") -> ErasedBy:
    """Who erases in a test (every erasure appends its audit event): `who`, now, chained under `keyring`,
    the keyring of the test's other events, so that its chain still verifies."""
    return ErasedBy(keyring, who, datetime.now(UTC))


def append(engine: Engine, keyring: Cipher, indices: range) -> None:
    with session_scope(engine) as session:
        for index in indices:
            append_event(session, keyring, event(index))


def post_as_device(engine: Engine, keyring: Cipher, *, person_id: int) -> None:
    """A granted event naming `person_id`, stored as POST /devices/events stores a gate's batch (a device
    key may name any id up to 2**31 - 1)."""
    posted = event(2).model_copy(update={"person_id": person_id, "event_uid": str(uuid.uuid4())})
    with session_scope(engine) as session:
        assert append_new_events(session, keyring, [posted]) == 1


def verify(engine: Engine, keyring: Cipher, *, batch_rows: int = 1000) -> ChainReport:
    with session_scope(engine) as session:
        return verify_chain(session, keyring, batch_rows=batch_rows)


def sql(engine: Engine, statement: str, **params: object) -> None:
    """What an attacker with write access to the database does: raw SQL, no FaceGate code."""
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def renumber_down(engine: Engine, *, first: int, by: int) -> None:
    """Events `first`..EVENTS moved down by `by` (raw SQL, one at a time, lowest first), as a careless
    restore closing the gap of `by` deleted events does; the chain head is left as it was."""
    for sequence in range(first, EVENTS + 1):
        sql(
            engine,
            "UPDATE audit_event SET sequence = :new WHERE sequence = :old",
            new=sequence - by,
            old=sequence,
        )


def downgrade_to(engine: Engine, revision: str) -> None:
    """The schema as of `revision`, as a database last migrated by an older release holds it."""
    config = Config()
    config.set_main_option("script_location", str(Path(storage.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def row(engine: Engine, sequence: int) -> dict[str, object]:
    with engine.connect() as connection:
        result = connection.execute(text("SELECT * FROM audit_event WHERE sequence = :s"), {"s": sequence})
        return dict(result.mappings().one())


def signed_by_stranger(checkpoint: Checkpoint) -> Checkpoint:
    """`checkpoint`'s statement signed again by a fresh Ed25519 key that no master key derives: a valid
    signature over a link the log may well hold, which only its signer gives away."""
    theirs = Ed25519PrivateKey.generate()
    public_key_hex = theirs.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    signature_hex = theirs.sign(checkpoint.signed_bytes()).hex()
    return checkpoint.model_copy(update={"public_key_hex": public_key_hex, "signature_hex": signature_hex})
