"""Erasures: none without who erased, each audited once; erase_person's report under concurrency (each count
is what the erasure removed, not what it read first)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest

from storage import (
    ERASURE_DOOR,
    PERSON_ERASED,
    TEMPLATE_ERASED,
    Engine,
    ErasureReportPublic,
    EventFilter,
    Keyring,
    MissingReference,
    NotFound,
    Session,
    add_member,
    create_group,
    create_person,
    delete_person,
    delete_template,
    erase_person,
    list_people,
    query_events,
    session_scope,
    store_template,
    verify_chain,
)
from tests.concurrency import Worker, held_after
from tests.storage.audit_helpers import audited_by
from tests.storage.template_helpers import person_with_templates

MODEL = "test-model"
BLOCKED_S = 2.0
"""How long the erasure waits for the other change: it finishes at once unless a lock holds it back."""


ERASURES: dict[str, Callable[..., object]] = {
    "delete_person": lambda session, person_id, _template_id, **by: delete_person(session, person_id, **by),
    "erase_person": lambda session, person_id, _template_id, **by: erase_person(session, person_id, **by),
    "delete_template": lambda session, person_id, template_id, **by: delete_template(
        session, person_id=person_id, template_id=template_id, **by
    ),
}


@pytest.mark.parametrize("name", list(ERASURES))
def test_no_erasure_goes_without_who_erased_and_each_is_audited_once(
    engine: Engine, keyring: Keyring, name: str
) -> None:
    """Regression: `erased_by` was optional, and an erasure without it (as ~37 test and bench calls made
    it) wrote no audit event: a future caller could erase a person with no trace of who did (F4, F6)."""
    erase = ERASURES[name]
    person_id, (template_id, _) = person_with_templates(engine, keyring, count=2)

    with pytest.raises(TypeError, match=re.escape("required keyword-only argument: 'erased_by'")):
        with session_scope(engine) as session:
            erase(session, person_id, template_id)
    with session_scope(engine) as session:
        assert list_people(session)[1] == 1  # refused before it touched anything
        erase(session, person_id, template_id, erased_by=audited_by(keyring, who="Ada"))

    with session_scope(engine) as session:
        events, total = query_events(session, where=EventFilter(door=ERASURE_DOOR), limit=10)
        assert verify_chain(session, keyring).is_ok
    is_template = name == "delete_template"
    reason, source = (
        (TEMPLATE_ERASED, f"Ada; template {template_id}") if is_template else (PERSON_ERASED, "Ada")
    )
    assert total == 1 and [(e.person_id, e.reason, e.source) for e in events] == [(person_id, reason, source)]


def _erase_while(
    engine: Engine,
    keyring: Keyring,
    person_id: int,
    *,
    fragment: str,
    other: Callable[[Session], object],
) -> tuple[ErasureReportPublic, Worker]:
    """erase_person, held just after it ran a statement containing `fragment` until `other` has
    committed or has waited BLOCKED_S for the erasure's locks; the report and `other`'s worker."""
    reports: list[ErasureReportPublic] = []
    eraser, rival = held_after(
        engine,
        lambda s: reports.append(erase_person(s, person_id, erased_by=audited_by(keyring))),
        fragment=fragment,
        second=other,
        blocked_s=BLOCKED_S,
    )
    assert eraser.errors == [], eraser.errors
    return reports[0], rival


def _storing(keyring: Keyring, person_id: int, source_name: str) -> Callable[[Session], object]:
    """A change storing one random template of the person (store_template takes no lock of its own)."""

    def store(session: Session) -> object:
        plaintext = os.urandom(16)
        return store_template(
            session,
            keyring,
            person_id=person_id,
            model_id=MODEL,
            plaintext=plaintext,
            source_name=source_name,
        )

    return store


def _person(engine: Engine, keyring: Keyring, *, templates: int) -> int:
    with session_scope(engine) as session:
        person_id = create_person(session, name="Ann").id
        assert person_id is not None
        for index in range(templates):
            _storing(keyring, person_id, f"{index}")(session)
    return person_id


def test_a_membership_added_while_the_person_is_erased_is_counted_or_refused(
    engine: Engine, keyring: Keyring
) -> None:
    """An admin adds the person to a group while another erases them (after the erasure counted their
    memberships): the report must count it if the erasure removed it, or the addition must fail."""
    person_id = _person(engine, keyring, templates=1)
    with session_scope(engine) as session:
        group_id = create_group(session, name="lab").id

    report, rival = _erase_while(
        engine,
        keyring,
        person_id,
        fragment="access_group_member",
        other=lambda s: add_member(s, group_id=group_id, person_id=person_id),
    )

    added = rival.errors == []
    assert len(rival.errors) <= 1 and all(isinstance(error, NotFound) for error in rival.errors)
    assert report.group_memberships_removed == (1 if added else 0)
    assert report.templates_removed == 1


def test_a_template_added_while_the_person_is_erased_is_counted_or_refused(
    engine: Engine, keyring: Keyring
) -> None:
    """A template stored without the gallery version lock (store_template is public) after the erasure
    deleted the templates but before it deleted the person: the cascade removes it uncounted unless
    the erasure keeps new rows out until it commits."""
    person_id = _person(engine, keyring, templates=2)

    report, rival = _erase_while(
        engine,
        keyring,
        person_id,
        fragment="DELETE FROM face_template",
        other=_storing(keyring, person_id, "late"),
    )

    added = rival.errors == []
    assert len(rival.errors) <= 1 and all(isinstance(error, MissingReference) for error in rival.errors)
    assert report.templates_removed == (3 if added else 2)
