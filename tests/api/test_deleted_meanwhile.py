"""Deletions through the API that meet another admin's deletion of the same row: 404, never a 500 nor a
204 for a request that removed nothing (SQLite: the request's reads hold no lock until its first write)."""

from __future__ import annotations

from typing import Any

from storage import (
    NotFound,
    Role,
    Session,
    delete_person,
    erase_person,
    list_people,
    session_scope,
)
from tests.api.conftest import ApiHarness
from tests.concurrency import held_in_request
from tests.storage.audit_helpers import audited_by
from tests.storage.template_helpers import person_with_templates

BLOCKED_S = 2.0
"""How long the request waits for the other deletion: it goes on at once unless a lock holds that back."""


def _person_with_templates(api: ApiHarness, *, count: int) -> tuple[int, list[str]]:
    person_id, ids = person_with_templates(
        api.services.engine, api.services.keyring, count=count, model_id=api.services.recognizer.model_id
    )
    # The admin has used the key within the minute: the request's sign-in check writes nothing (its
    # first use would record last_used_at, a write that holds other SQLite writers out from the start).
    assert api.client.get("/people", headers=api.auth(Role.admin)).status_code == 200
    return person_id, ids


def test_a_template_deleted_while_its_person_is_erased_is_not_found_or_counted(api: ApiHarness) -> None:
    """DELETE /people/{id}/templates/{tid} found the template, then another admin's erasure committed."""
    person_id, (template_id, _) = _person_with_templates(api, count=2)
    reports = []

    def erase(session: Session) -> None:
        reports.append(erase_person(session, person_id, erased_by=audited_by(api.services.keyring)))

    answer, eraser = held_in_request(
        api.services.engine,
        lambda: api.client.delete(
            f"/people/{person_id}/templates/{template_id}", headers=api.auth(Role.admin)
        ),
        fragment="FROM face_template",
        rival=erase,
        blocked_s=BLOCKED_S,
    )

    assert eraser.errors == []
    if answer.status_code == 404:  # SQLite: the erasure went between the request's read and its delete
        assert answer.json()["detail"] == f"person {person_id} has no template {template_id}"
        assert reports[0].templates_removed == 2
    else:  # PostgreSQL: the request held the gallery version row; the erasure waited for it
        assert answer.status_code == 204, answer.text
        assert reports[0].templates_removed == 1


def test_a_person_deleted_twice_at_once_is_deleted_once(api: ApiHarness) -> None:
    """Two admins (or a double click) delete one person: one 204, one 404; the gallery changes once."""
    person_id, _ = _person_with_templates(api, count=1)
    version = api.state().gallery_version

    answer, other = held_in_request(
        api.services.engine,
        lambda: api.client.delete(f"/people/{person_id}", headers=api.auth(Role.admin)),
        fragment="FROM person",  # lock_person's read, the first
        rival=lambda session: delete_person(session, person_id, erased_by=audited_by(api.services.keyring)),
        blocked_s=BLOCKED_S,
    )

    assert len(other.errors) <= 1 and all(isinstance(error, NotFound) for error in other.errors)
    outcomes = sorted([_outcome(answer), "not found" if other.errors else "deleted"])
    assert outcomes == ["deleted", "not found"], (answer.text, other.errors)
    with session_scope(api.services.engine) as session:
        assert list_people(session)[1] == 0
    assert api.state().gallery_version == version + 1


def _outcome(answer: Any) -> str:
    assert answer.status_code in {204, 404}, answer.text
    return "deleted" if answer.status_code == 204 else "not found"
