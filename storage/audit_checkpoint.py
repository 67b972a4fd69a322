"""Signed checkpoints of the audit chain: (sequence, link, time) signed with Ed25519.

A checkpoint kept outside the database (a ticket, an e-mail, another machine) pins the chain's history
up to its sequence: even someone holding the master key, who can recompute every HMAC, cannot rewrite
or truncate that history without the event at the checkpoint's sequence losing the signed link.
The signing key is derived from the primary master key, so no extra secret has to be stored.
A v2 checkpoint also signs the earlier breaks it acknowledges (storage/audit_reanchor.py); a plain export
is v1, byte for byte as before.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlmodel import Session, col, func, select

from storage.audit_chain import (
    GENESIS_HASH,
    VERIFY_BATCH_ROWS,
    ChainBreak,
    ChainReport,
    chain_key,
    compute_link,
    verify_chain,
)
from storage.errors import ChainBroken, CheckpointInvalid, CheckpointMismatch, UnknownKeyId
from storage.models import AuditEvent
from storage.protocols import Cipher
from storage.timeutil import as_utc

CHECKPOINT_PURPOSE = "audit-checkpoint/v1"
CHECKPOINT_FORMAT: Final = "facegate-audit-checkpoint/v1"
ACKNOWLEDGING_FORMAT: Final = "facegate-audit-checkpoint/v2"
"""The format of a checkpoint that acknowledges breaks; an older FaceGate refuses it rather than miss them."""

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class AcknowledgedBreak(BaseModel):
    """A break of the audit chain before a checkpoint, investigated and acknowledged when it was signed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sequence: int = Field(ge=1, description="Where verification broke, as `facegate audit verify` named it.")
    reason: ChainBreak = Field(description="Why it broke there.")

    def __str__(self) -> str:
        return f"{self.sequence} ({self.reason})"


class Checkpoint(BaseModel):
    """A signed statement: event `sequence` of the audit chain had link `link_hash` at `created_at` (v2: and
    the chain broke before it at `acknowledged_breaks`, which its signer acknowledged)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format: Literal["facegate-audit-checkpoint/v1", "facegate-audit-checkpoint/v2"] = CHECKPOINT_FORMAT
    sequence: int = Field(ge=0, description="Last event covered; 0 for an empty log.")
    link_hash: Hex64 = Field(description="Hex link of that event (the genesis value for an empty log).")
    created_at: AwareDatetime
    acknowledged_breaks: tuple[AcknowledgedBreak, ...] = Field(
        default=(),
        description="v2 only: the breaks before `sequence` that its signer acknowledged, in chain order.",
    )
    public_key_hex: Hex64 = Field(description="Raw Ed25519 public key that signed it, hex.")
    signature_hex: str = Field(pattern=r"^[0-9a-f]{128}$", description="Ed25519 signature, hex.")

    @model_validator(mode="after")
    def _breaks_match_format(self) -> Checkpoint:
        if self.format == CHECKPOINT_FORMAT and self.acknowledged_breaks:
            raise ValueError("a v1 checkpoint acknowledges no breaks")
        if self.format == ACKNOWLEDGING_FORMAT and not self.acknowledged_breaks:
            raise ValueError("a v2 checkpoint acknowledges at least one break")
        return self

    def signed_bytes(self) -> bytes:
        """The exact bytes the signature covers."""
        return _signed_bytes(
            sequence=self.sequence,
            link_hash=self.link_hash,
            created_at=self.created_at,
            acknowledged_breaks=self.acknowledged_breaks,
        )

    def to_json(self) -> str:
        """Indented JSON, the form `parse_checkpoint` reads back (v1: without `acknowledged_breaks`)."""
        exclude = None if self.acknowledged_breaks else {"acknowledged_breaks"}
        return self.model_dump_json(indent=2, exclude=exclude) + "\n"

    def acknowledges(self) -> str:
        """'acknowledging the break at 3 (edited)'; '' for a checkpoint that acknowledges none."""
        if not self.acknowledged_breaks:
            return ""
        noun = "break" if len(self.acknowledged_breaks) == 1 else "breaks"
        return f"acknowledging the audit chain's {noun} at {', '.join(map(str, self.acknowledged_breaks))}"

    def not_verified(self) -> str:
        """One line for an auditor: the events a walk from this checkpoint (`verify_chain_since`) leaves
        unverified, and the breaks among them its signer acknowledged."""
        acknowledging = f", {self.acknowledges()}" if self.acknowledged_breaks else ""
        return (
            f"events up to {self.sequence} (the checkpoint signed {self.created_at.isoformat()}"
            f"{acknowledging}) were not verified"
        )


def _signed_bytes(
    *,
    sequence: int,
    link_hash: str,
    created_at: datetime,
    acknowledged_breaks: tuple[AcknowledgedBreak, ...] = (),
) -> bytes:
    """v1's statement unchanged; v2 adds the acknowledged breaks under its own prefix."""
    statement: dict[str, object] = {
        "sequence": sequence,
        "link_hash": link_hash,
        "created_at": as_utc(created_at).isoformat(),
    }
    prefix = CHECKPOINT_FORMAT
    if acknowledged_breaks:
        prefix = ACKNOWLEDGING_FORMAT
        statement["acknowledged_breaks"] = [[b.sequence, str(b.reason)] for b in acknowledged_breaks]
    return f"{prefix}|".encode() + json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def _signing_key(keyring: Cipher, *, key_id: str | None = None) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(keyring.derive_subkey(CHECKPOINT_PURPOSE, key_id=key_id))


def checkpoint_public_key(keyring: Cipher, *, key_id: str | None = None) -> str:
    """Hex of the Ed25519 public key that signs checkpoints under master key `key_id` (default: the
    keyring's primary key, the one `export_checkpoint` signs with).

    Raises:
        UnknownKeyId: `key_id` is not in the keyring.
    """
    return (
        _signing_key(keyring, key_id=key_id).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    )


def export_checkpoint(session: Session, keyring: Cipher, *, now: datetime) -> Checkpoint:
    """Verify the whole chain, then sign its last event.

    Args:
        now: the checkpoint's time, timezone-aware.

    Raises:
        ChainBroken: the chain does not verify, so there is nothing trustworthy to sign.
    """
    report = verify_chain(session, keyring)
    if not report.is_ok:
        raise ChainBroken(
            f"refusing to sign a broken chain: {report.summary()}; once the break is investigated, "
            f"`facegate audit checkpoint export --acknowledge-break {report.broken_sequence} --note TEXT` "
            "re-anchors (TEXT: what the investigation found)"
        )
    return sign_checkpoint(
        keyring, sequence=report.last_sequence, link_hash=report.last_link_hash, created_at=now
    )


def sign_checkpoint(
    keyring: Cipher,
    *,
    sequence: int,
    link_hash: str,
    created_at: datetime,
    acknowledged_breaks: tuple[AcknowledgedBreak, ...] = (),
) -> Checkpoint:
    """Sign a statement the caller verified, with the primary master key's signing key (v2 when it
    acknowledges breaks, else v1)."""
    created_at = as_utc(created_at)
    message = _signed_bytes(
        sequence=sequence,
        link_hash=link_hash,
        created_at=created_at,
        acknowledged_breaks=acknowledged_breaks,
    )
    return Checkpoint(
        format=ACKNOWLEDGING_FORMAT if acknowledged_breaks else CHECKPOINT_FORMAT,
        sequence=sequence,
        link_hash=link_hash,
        created_at=created_at,
        acknowledged_breaks=acknowledged_breaks,
        public_key_hex=checkpoint_public_key(keyring),
        signature_hex=_signing_key(keyring).sign(message).hex(),
    )


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Read a checkpoint written by `Checkpoint.to_json` (bytes: UTF-8, as an uploaded file holds it).

    Raises:
        CheckpointInvalid: not a checkpoint (bad JSON, a missing or malformed field).
    """
    try:
        return Checkpoint.model_validate_json(text)
    except ValidationError as exc:
        raise CheckpointInvalid(f"not a FaceGate audit checkpoint: {exc.error_count()} problems") from exc


def check_checkpoint(
    session: Session, keyring: Cipher, checkpoint: Checkpoint, *, expected_public_key_hex: str | None = None
) -> None:
    """Check the signer and the signature, then that the log still holds the signed link at the signed
    sequence; for a v2 checkpoint, also that the event there, which records the acknowledged breaks, still
    matches that link (a v1 checkpoint vouches for no event's content).

    Pair it with verify_chain, which shows that every stored link follows from its event's content.

    Args:
        expected_public_key_hex: the one signer to insist on instead (see `checkpoint_public_key`), such
            as one of a master key since removed from the keyring; without it, the signer must be derived
            from one of `keyring`'s master keys (the primary or an older one still listed).

    Raises:
        CheckpointInvalid: another key signed it, or the signature does not match its content.
        CheckpointMismatch: the event at that sequence is gone or has another link (v2: or was edited, or
            is chained under a master key the keyring lacks).
    """
    _check_signature(checkpoint, keyring, expected_public_key_hex=expected_public_key_hex)
    if checkpoint.sequence == 0:
        if checkpoint.link_hash != GENESIS_HASH:
            raise CheckpointInvalid("a checkpoint of an empty log must carry the genesis link")
        return
    stored = session.exec(select(AuditEvent).where(col(AuditEvent.sequence) == checkpoint.sequence)).first()
    if stored is None:
        last = session.exec(select(func.max(AuditEvent.sequence))).one()
        raise CheckpointMismatch(
            f"event {checkpoint.sequence} is gone (the log ends at event {last or 0}): the log was truncated "
            "or renumbered, or the checkpoint is of another database"
        )
    if stored.link_hash != checkpoint.link_hash:
        raise CheckpointMismatch(
            f"event {checkpoint.sequence} has another link than the checkpoint: history was rewritten"
        )
    if checkpoint.acknowledged_breaks:
        _check_acknowledgement_event(keyring, stored)


def _check_acknowledgement_event(keyring: Cipher, event: AuditEvent) -> None:
    """The event a v2 checkpoint signed records the re-anchoring; a walk from the checkpoint starts after
    it, so its content is checked here, against its link, which the signature covers."""
    where = f"event {event.sequence}, which records the acknowledged breaks,"
    try:
        key = chain_key(keyring, event.chain_key_id)
    except UnknownKeyId as exc:
        message = f"{where} is chained under master key {event.chain_key_id}, which is not in the keyring"
        raise CheckpointMismatch(message) from exc
    link = compute_link(key, event, sequence=event.sequence, prev_hash=event.prev_hash)
    if not hmac.compare_digest(link.encode(), event.link_hash.encode()):
        raise CheckpointMismatch(f"{where} was edited after the checkpoint was signed")


def _check_signature(checkpoint: Checkpoint, keyring: Cipher, *, expected_public_key_hex: str | None) -> None:
    """The signer first (the one expected, else a master key's), then the signature under it."""
    signer = checkpoint.public_key_hex
    if expected_public_key_hex is not None:
        if expected_public_key_hex.strip().lower() != signer:
            raise CheckpointInvalid(f"signed by key {signer}, not the expected {expected_public_key_hex}")
    elif signer not in {checkpoint_public_key(keyring, key_id=key_id) for key_id in keyring.key_ids}:
        raise CheckpointInvalid(
            f"signed by key {signer}, which none of the keyring's master keys derives "
            "(another installation's checkpoint, or a forged one)"
        )
    public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(signer))
    try:
        public_key.verify(bytes.fromhex(checkpoint.signature_hex), checkpoint.signed_bytes())
    except InvalidSignature as exc:
        raise CheckpointInvalid("the checkpoint's signature does not match its content") from exc


def verify_chain_since(
    session: Session,
    keyring: Cipher,
    checkpoint: Checkpoint,
    *,
    batch_rows: int = VERIFY_BATCH_ROWS,
    on_verified: Callable[[AuditEvent], None] | None = None,
) -> ChainReport:
    """`verify_chain` from a checkpoint on: vouch for the events after it, and for nothing up to it.

    The checkpoint must be signed under a master key of `keyring` (the primary or an older one still
    listed), and the log must still hold its link at its sequence (`check_checkpoint`); the walk then starts
    from that signed link, so the first event after it must name it as its predecessor. A break up to the
    checkpoint does not show; one after it does, as in the whole walk. `on_verified` and the report are as
    `verify_chain`'s (the report's `start_sequence` is the checkpoint's).

    Raises:
        CheckpointInvalid: no master key of the keyring signed it, or its signature does not match.
        CheckpointMismatch: the event at its sequence is gone or has another link.
        DatabaseUnavailable: the database fails mid-read (from the caller's session scope).
    """
    check_checkpoint(session, keyring, checkpoint)
    return verify_chain(
        session,
        keyring,
        batch_rows=batch_rows,
        on_verified=on_verified,
        start=(checkpoint.sequence, checkpoint.link_hash),
    )
