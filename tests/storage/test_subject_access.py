"""subject_access under concurrency: a group deleted while a person's data is exported."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import (
    Engine,
    SubjectAccessPublic,
    add_member,
    create_group,
    create_person,
    delete_group,
    session_scope,
    subject_access,
)
from tests.concurrency import held_after


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
