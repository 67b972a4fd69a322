"""The gallery change log and the bulk load, on SQLite and PostgreSQL with the migrations applied."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import event, text

from recognition import vector_to_bytes
from storage import (
    Engine,
    Keyring,
    add_member,
    bump_gallery_version,
    create_group,
    delete_person,
    delete_template,
    gallery_delta,
    gallery_version,
    list_person_templates,
    load_templates,
    lock_gallery_version,
    session_scope,
    store_template,
)
from tests.concurrency import Worker, signal_on
from tests.storage.audit_helpers import audited_by
from tests.storage.template_helpers import MODEL_ID, store_people


def _enrolled(engine: Engine, keyring: Keyring, vectors: list[np.ndarray]) -> list[int]:
    """Store one person per vector and bump the version, as enrollment does."""
    person_ids = store_people(engine, keyring, vectors)
    with session_scope(engine) as session:
        bump_gallery_version(session)
    return person_ids


def _delta(engine: Engine, keyring: Keyring, since: int):
    with session_scope(engine) as session:
        return gallery_delta(session, keyring, model_id=MODEL_ID, since_version=since)


def test_a_delta_holds_exactly_what_changed_after_a_version(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    first = _enrolled(engine, keyring, real_vectors[:2])
    with session_scope(engine) as session:
        seen = gallery_version(session)
    second = _enrolled(engine, keyring, real_vectors[2:4])
    with session_scope(engine) as session:
        delete_person(session, first[0], erased_by=audited_by(keyring))
        group = create_group(session, name="staff")
        add_member(session, group_id=group.id, person_id=second[0])

    delta = _delta(engine, keyring, seen)
    assert delta is not None
    with session_scope(engine) as session:
        assert delta.version == gallery_version(session)
    assert {t.person_id: t.plaintext for t in delta.added} == {
        person_id: vector_to_bytes(vector)
        for person_id, vector in zip(second, real_vectors[2:4], strict=True)
    }
    assert delta.removed_person_ids == [first[0]]
    assert delta.has_access_changes
    up_to_date = _delta(engine, keyring, delta.version)
    assert up_to_date is not None and (up_to_date.added, up_to_date.removed_person_ids) == ([], [])


def test_a_template_added_then_removed_inside_the_window_is_not_returned(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    (person_id,) = _enrolled(engine, keyring, real_vectors[:1])
    with session_scope(engine) as session:
        delete_person(session, person_id, erased_by=audited_by(keyring))
    delta = _delta(engine, keyring, 0)
    assert delta is not None
    assert (delta.added, delta.removed_person_ids) == ([], [person_id])


def test_the_log_cannot_answer_for_a_version_outside_it(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    _enrolled(engine, keyring, real_vectors[:2])
    with session_scope(engine) as session:
        version = gallery_version(session)
    assert _delta(engine, keyring, version + 1) is None  # ahead of the database (a restore went back)
    with engine.begin() as connection:  # what a restore (or the migration) records: no log before now
        connection.execute(text("UPDATE gallery_version SET changes_since = version"))
    assert _delta(engine, keyring, version - 1) is None
    assert _delta(engine, keyring, version) is not None


def test_a_full_load_unwraps_every_data_key_in_one_query_and_yields_batches(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    person_ids = store_people(engine, keyring, real_vectors)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with session_scope(engine) as session:
        batches = list(load_templates(session, keyring, model_id=MODEL_ID, batch_templates=2))
    assert [len(batch) for batch in batches] == [2] * (len(person_ids) // 2) + [len(person_ids) % 2] * (
        len(person_ids) % 2
    )
    assert sorted(t.person_id for batch in batches for t in batch) == sorted(person_ids)
    assert sum("person_key" in statement for statement in statements) == 1


@pytest.mark.parametrize("batch_templates", [1, 1000])
def test_a_full_load_of_another_model_is_empty(
    engine: Engine, keyring: Keyring, batch_templates: int
) -> None:
    with session_scope(engine) as session:
        assert list(load_templates(session, keyring, model_id="other", batch_templates=batch_templates)) == []


def test_a_template_logged_twice_in_one_window_is_returned_once(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    (person_id,) = _enrolled(engine, keyring, real_vectors[:1])
    with session_scope(engine) as session:
        first = store_template(
            session,
            keyring,
            person_id=person_id,
            model_id=MODEL_ID,
            plaintext=vector_to_bytes(real_vectors[1]),
            source_name="second.jpg",
        )
        bump_gallery_version(session)
    with session_scope(engine) as session:
        delete_template(  # logs the rest as re-added
            session, person_id=person_id, template_id=first.id, erased_by=audited_by(keyring)
        )

    delta = _delta(engine, keyring, 0)
    assert delta is not None
    assert [t.plaintext for t in delta.added] == [vector_to_bytes(real_vectors[0])]
    assert delta.removed_person_ids == [person_id]


def test_locking_the_version_on_a_fresh_database_makes_the_row_at_zero(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert lock_gallery_version(session) == 0
    with session_scope(engine) as session:
        assert lock_gallery_version(session) == 0
        assert bump_gallery_version(session) == 1
    with session_scope(engine) as session:
        assert gallery_version(session) == 1


def test_a_template_added_while_another_is_deleted_stays_in_the_delta(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """delete_template logs the person's other templates as re-added: it must read them after an
    enrollment holding the version row commits, or a gate applying its delta loses the new one."""
    (person_id,) = _enrolled(engine, keyring, real_vectors[:1])
    with session_scope(engine) as session:
        (deleted,) = [t.id for t in list_person_templates(session, person_id)[0]]

    def delete_first() -> None:
        with session_scope(engine) as session:
            delete_template(session, person_id=person_id, template_id=deleted, erased_by=audited_by(keyring))

    deleting = Worker(delete_first)
    with session_scope(engine) as session:  # an enrollment, as enroll() stores one
        lock_gallery_version(session)
        plaintext = vector_to_bytes(real_vectors[1])
        store_template(
            session, keyring, person_id=person_id, model_id=MODEL_ID, plaintext=plaintext, source_name="new"
        )
        enrolled_version = bump_gallery_version(session)
        # its version lock: SELECT ... FROM gallery_version FOR UPDATE, and first on SQLite its write lock
        with signal_on(engine, deleting, "gallery_version", is_after=False):
            deleting.thread.start()
            assert deleting.reached.wait(timeout=30.0)  # about to wait for the row this test holds
    deleting.thread.join()

    assert deleting.errors == []
    delta = _delta(engine, keyring, enrolled_version)  # a gate that applied the enrollment
    assert delta is not None and delta.removed_person_ids == [person_id]
    assert [t.plaintext for t in delta.added] == [vector_to_bytes(real_vectors[1])]
