"""Storing many templates at once (`store_templates`), on SQLite and PostgreSQL with migrations applied."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from recognition import vector_to_bytes
from storage import (
    DecryptionError,
    Engine,
    Keyring,
    create_person,
    gallery_delta,
    gallery_version,
    iter_templates,
    session_scope,
    store_templates,
)
from tests.storage.template_helpers import MODEL_ID, move_ciphertext, store_bulk, store_people


def test_bulk_templates_decrypt_like_single_ones_under_each_persons_one_data_key(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """New people get a data key, a person enrolled before keeps theirs; every row decrypts to its vector."""
    (earlier,) = store_people(engine, keyring, real_vectors[:1])
    with session_scope(engine) as session:
        newcomer = create_person(session, name="newcomer").id
    assert newcomer is not None
    owners = [earlier, newcomer, newcomer]

    template_ids = store_bulk(engine, keyring, owners, real_vectors[:3])

    with session_scope(engine) as session:
        stored = {
            t.template_id: (t.person_id, t.plaintext)
            for t in iter_templates(session, keyring, model_id=MODEL_ID)
        }
        keys = session.connection().execute(text("SELECT person_id FROM person_key ORDER BY person_id")).all()
    assert [row[0] for row in keys] == sorted({earlier, newcomer})
    for template_id, owner, vector in zip(template_ids, owners, real_vectors[:3], strict=True):
        assert stored[template_id] == (owner, vector_to_bytes(vector))
    assert len(stored) == 4


def test_bulk_rows_are_bound_to_their_row_and_hold_no_plaintext(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """Fresh nonces, and a ciphertext moved onto another row of the same person fails to decrypt (F1)."""
    with session_scope(engine) as session:
        owners = [create_person(session, name=f"p{n}").id or 0 for n in range(2)]
    store_bulk(engine, keyring, [owners[0], owners[0], owners[1]], real_vectors[:3])
    nonces = move_ciphertext(engine)
    assert len(set(nonces)) == 3

    with session_scope(engine) as session, pytest.raises(DecryptionError):
        list(iter_templates(session, keyring, model_id=MODEL_ID))


def test_bulk_templates_reach_gates_through_the_change_log(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    with session_scope(engine) as session:
        seen = gallery_version(session)
        owner = create_person(session, name="bulk").id or 0

    template_ids = store_bulk(engine, keyring, [owner, owner], real_vectors[:2])

    with session_scope(engine) as session:
        delta = gallery_delta(session, keyring, model_id=MODEL_ID, since_version=seen)
    assert delta is not None
    assert sorted(t.template_id for t in delta.added) == sorted(template_ids)


def test_storing_no_templates_writes_nothing(engine: Engine, keyring: Keyring) -> None:
    with session_scope(engine) as session:
        assert store_templates(session, keyring, model_id=MODEL_ID, templates=[]) == []
