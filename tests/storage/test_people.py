"""People: names of many in one query; a rename racing an erasure."""

from __future__ import annotations

import pytest

from storage import (
    Engine,
    Keyring,
    NotFound,
    Session,
    create_person,
    delete_person,
    erase_person,
    get_person,
    person_names,
    rename_person,
    session_scope,
)
from tests.concurrency import held_after
from tests.storage.audit_helpers import audited_by

BLOCKED_S = 2.0
"""How long the rename waits for the erasure: it finishes at once unless a lock holds it back."""


def test_person_names_skips_missing_ids(engine: Engine, keyring: Keyring) -> None:
    with session_scope(engine) as session:
        ada = create_person(session, name="Ada").id
        bob = create_person(session, name="<b>Bob</b>").id
        gone = create_person(session, name="Gone").id
        assert ada is not None and bob is not None and gone is not None
        delete_person(session, gone, erased_by=audited_by(keyring))
        assert person_names(session, {ada, bob, gone, 987654}) == {ada: "Ada", bob: "<b>Bob</b>"}
        assert person_names(session, []) == {}


def test_a_rename_while_the_person_is_erased_is_done_first_or_not_found(
    engine: Engine, keyring: Keyring
) -> None:
    """The erasure commits after the rename found the person: the rename is NotFound (a storage error
    the API and console show), never an ORM error about an UPDATE that matched no row."""
    with session_scope(engine) as session:
        person_id = create_person(session, name="Ann").id
        assert person_id is not None

    def erase(session: Session) -> None:
        erase_person(session, person_id, erased_by=audited_by(keyring))

    renamer, eraser = held_after(
        engine,
        lambda s: rename_person(s, person_id, name="Ann B."),
        fragment="FROM person",
        second=erase,
        blocked_s=BLOCKED_S,
    )

    assert eraser.errors == []
    assert len(renamer.errors) <= 1 and all(isinstance(error, NotFound) for error in renamer.errors)
    with session_scope(engine) as session, pytest.raises(NotFound):
        get_person(session, person_id)
