"""The audit event an erasure appends in its own transaction: who erased which id, and when; no template."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlmodel import Session

from storage.audit import append_event
from storage.doors import ERASURE_DOOR
from storage.models import AuditEventCreate, Decision
from storage.protocols import Cipher

PERSON_ERASED: Final = "person_erased"
"""The `reason` of the event of a person's deletion or erasure (their templates, data key, memberships)."""
TEMPLATE_ERASED: Final = "template_erased"
"""The `reason` of the event of one template's deletion; its source names the template's id."""
_SOURCE_CHARS = 500


@dataclass(frozen=True)
class ErasedBy:
    """Who erases and when, for the audit event: an API key or a console session (its label and token
    id), or the login running the CLI; and the keyring that chains the event."""

    keyring: Cipher
    who: str
    at: datetime
    """Timezone-aware."""


def record_erasure(
    session: Session, erased_by: ErasedBy, *, person_id: int, template_id: str | None = None
) -> None:
    """Append the erasure's event (decision `recorded`) inside the caller's transaction, so that the log
    holds it exactly when the erasure commits. It names the person by id only (F6), and a template by id.

    Raises:
        ChainBroken: the audit chain's head is missing although events exist.
    """
    source = erased_by.who if template_id is None else f"{erased_by.who}; template {template_id}"
    if len(source) > _SOURCE_CHARS:
        source = source[: _SOURCE_CHARS - 1] + "…"
    event = AuditEventCreate(
        door=ERASURE_DOOR,
        source=source,
        decision=Decision.recorded,
        reason=PERSON_ERASED if template_id is None else TEMPLATE_ERASED,
        person_id=person_id,
        model_id="-",
        occurred_at=erased_by.at,
    )
    append_event(session, erased_by.keyring, event)
