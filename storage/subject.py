"""Data-subject rights: everything stored about one person (access), and their erasure with a report."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, delete

from storage.access import person_groups
from storage.access_models import AccessGroupMember, AccessGroupPublic
from storage.audit import EventFilter, count_events, page_events
from storage.erasure_log import ErasedBy
from storage.gallery_log import lock_gallery_version
from storage.models import (
    AuditEventPublic,
    PersonKey,
    PersonPublic,
    TemplatePublic,
)
from storage.people import delete_person, get_person, lock_person, to_public
from storage.templates import list_person_templates

MAX_EXPORTED_TEMPLATES = 10_000
"""More templates than any enrollment makes (max_photos per request, a few requests)."""
EVENT_PAGE_ROWS = 1_000
"""Events read per statement when exporting everything naming a person."""


class SubjectAccessPublic(SQLModel):
    """Everything stored about one person; templates by their metadata only (the vectors are encrypted)."""

    person: PersonPublic
    groups: list[AccessGroupPublic]
    templates: list[TemplatePublic]
    events: list[AuditEventPublic] = Field(description="Every audit event naming this person, newest first.")
    exported_at: datetime


class ErasureReportPublic(SQLModel):
    """What an erasure removed, and what it keeps (the audit log keeps only the person's id)."""

    person_id: int
    templates_removed: int
    group_memberships_removed: int
    is_crypto_shredded: bool = Field(
        description="The person's data key was destroyed: template copies in old backups are unreadable."
    )
    audit_events_kept: int = Field(
        description="Audit events naming only the id (append-only log, F4/F6), the erasure's own included."
    )


def subject_access(
    session: Session, person_id: int, *, now: datetime, model_id: str | None = None
) -> SubjectAccessPublic:
    """The person (templates counted for `model_id`, as `to_public` counts them), their groups, their
    templates' metadata and every audit event naming them.

    Raises:
        NotFound: no such person.
    """
    person = to_public(session, get_person(session, person_id), model_id=model_id)
    groups = person_groups(session, person_id)
    templates, _ = list_person_templates(session, person_id, limit=MAX_EXPORTED_TEMPLATES)
    return SubjectAccessPublic(
        person=person,
        groups=groups,
        templates=templates,
        events=_events_naming(session, person_id),
        exported_at=now,
    )


def _events_naming(session: Session, person_id: int) -> list[AuditEventPublic]:
    """Every event naming the person, newest first, page after page below the last sequence read. A count
    followed by one page of that size dropped the oldest event when a gate appended one in between."""
    events: list[AuditEventPublic] = []
    theirs = EventFilter(person_id=person_id)
    while True:
        below = events[-1].sequence if events else None
        page = page_events(session, where=theirs, before_sequence=below, limit=EVENT_PAGE_ROWS)
        events.extend(page)
        if len(page) < EVENT_PAGE_ROWS:
            return events


def erase_person(session: Session, person_id: int, *, erased_by: ErasedBy) -> ErasureReportPublic:
    """Erase a person (templates, data key, memberships) and say what went and what stays; the erasure's
    audit event (`erased_by`: who and when) is appended in the same transaction.

    Raises:
        NotFound: no such person.
        ChainBroken: the audit chain's head is missing although events exist.
    """
    # Locked first (in delete_person's order), then counted by what each statement removes: a membership
    # or template added while the erasure ran was removed by the cascade without being reported.
    lock_gallery_version(session)
    lock_person(session, person_id)
    left_groups = session.exec(delete(AccessGroupMember).where(col(AccessGroupMember.person_id) == person_id))
    had_key = session.get(PersonKey, person_id) is not None
    removed = delete_person(session, person_id, erased_by=erased_by)
    return ErasureReportPublic(
        person_id=person_id,
        templates_removed=removed,
        group_memberships_removed=int(left_groups.rowcount),
        is_crypto_shredded=had_key,
        audit_events_kept=count_events(session, where=EventFilter(person_id=person_id)),
    )
