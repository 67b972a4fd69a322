"""subject_access under concurrency: a group deleted or an event appended while a person's data is read."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import (
    Engine,
    Keyring,
    SubjectAccessPublic,
    add_member,
    append_event,
    create_group,
    create_person,
    delete_group,
    session_scope,
    subject_access,
)
from tests.concurrency import held_after
from tests.storage.audit_helpers import event


def test_a_group_deleted_during_the_export_is_in_it_or_not_never_a_not_found(engine: Engine) -> None:
    """Another admin deletes one of the person's groups just after the export read their memberships:
    the export must still answer (with or without that group), not NotFound for a person who exists."""
    with session_scope(engine) as session:
        person_id = create_person(session, name="Ann").id or 0
        kept, deleted = (create_group(session, name=name).id for name in ("day", "night"))
        for group_id in (kept, deleted):
            add_member(session, group_id=group_id, person_id=person_id)
    exports: list[SubjectAccessPublic] = []

    exporter, rival = held_after(
        engine,
        lambda s: exports.append(subject_access(s, person_id, now=datetime.now(UTC))),
        fragment="WHERE access_group_member.person_id",
        second=lambda s: delete_group(s, deleted),
        blocked_s=2.0,
    )

    assert rival.errors == [], rival.errors
    assert exporter.errors == [], exporter.errors
    assert [group.name for group in exports[0].groups] in (["day"], ["day", "night"])


def test_an_event_appended_during_the_export_never_pushes_an_earlier_one_out(
    engine: Engine, keyring: Keyring
) -> None:
    """A gate appends an event naming the person just after the export first read the audit log: every
    event before it must be in the export (the appended one may or may not be)."""
    with session_scope(engine) as session:
        person_id = [create_person(session, name=name).id for name in ("Ann", "Bob")][1] or 0
        earlier = [append_event(session, keyring, event(person_id)).sequence for _ in range(2)]
    exports: list[SubjectAccessPublic] = []

    exporter, rival = held_after(
        engine,
        lambda s: exports.append(subject_access(s, person_id, now=datetime.now(UTC))),
        fragment="FROM audit_event",
        second=lambda s: append_event(s, keyring, event(person_id)),
        blocked_s=2.0,
    )

    assert rival.errors == [] and exporter.errors == [], (rival.errors, exporter.errors)
    exported = [e.sequence for e in exports[0].events]
    assert set(earlier) <= set(exported) and exported == sorted(exported, reverse=True)
