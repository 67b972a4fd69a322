"""An erasure leaves no stored look-alike record naming the erased person, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import text

from enrollment import backfill_lookalikes
from recognition import Recognizer
from recognition.lookalike import neighbours_from_bytes, neighbours_to_bytes
from storage import (
    Engine,
    Keyring,
    MissingLookalikes,
    erase_person,
    list_person_templates,
    load_templates,
    session_scope,
    store_missing_lookalikes,
)
from tests.storage.audit_helpers import audited_by
from tests.storage.lookalike_helpers import stored_records
from tests.storage.template_helpers import MODEL_ID, store_people


def _named_by(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> dict[int, tuple[str, list[int] | None]]:
    """Each person's one template: its id and the people its stored record names (None: no record)."""
    with session_scope(engine) as session:
        batches = list(load_templates(session, keyring, model_id=recognizer.model_id))
    return {
        t.person_id: (
            t.template_id,
            None if t.lookalikes is None else neighbours_from_bytes(t.lookalikes)[0].tolist(),
        )
        for batch in batches
        for t in batch
    }


def test_an_erasure_drops_every_stored_record_naming_the_erased_person(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    enroll_person: Callable[..., int],
) -> None:
    """Regression: a look-alike's record (made at its enrollment, sealed under its own person's key) kept
    the erased person's id and cosine in the database after the erasure shredded their key: derived
    biometric data of someone erased. 807549c and d9bd133 left it out of loaded galleries only."""
    ann = enroll_person("Ann", group_faces[0])
    twin = enroll_person("Twin", group_faces[0])  # the same face: its record names Ann
    bob = enroll_person("Bob", group_faces[1])
    before = _named_by(engine, keyring, recognizer)
    assert ann in (before[twin][1] or []) and ann not in (before[bob][1] or [])
    sealed = stored_records(engine)

    with session_scope(engine) as session:
        erase_person(session, ann, erased_by=audited_by(keyring))

    after = _named_by(engine, keyring, recognizer)
    assert set(after) == {twin, bob}
    assert after[twin] == (before[twin][0], None)  # no record: a gallery's load searches it, as before 0011
    assert stored_records(engine)[before[bob][0]] == sealed[before[bob][0]]  # untouched, same ciphertext
    # The backfill gives the twin a record again, of the gallery as it is now.
    assert backfill_lookalikes(engine, keyring, recognizer).stored == 1
    refreshed = _named_by(engine, keyring, recognizer)[twin][1]
    assert refreshed is not None and ann not in refreshed


def _record(*people: int) -> bytes:
    return neighbours_to_bytes(np.array(people, dtype=np.int64), np.full(len(people), 0.9, dtype=np.float32))


def test_a_record_made_before_an_erasure_is_not_stored_after_it(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """Regression: the backfill reads the gallery, then stores each batch's records in a later transaction
    where they have none (the erasure's nulled ones too), so a person erased in between was named again."""
    ann, bob, cid = store_people(engine, keyring, real_vectors[:3])  # no records, as before 0011
    with session_scope(engine) as session:
        (bob_template, cid_template) = (list_person_templates(session, p)[0][0].id for p in (bob, cid))
        erase_person(session, ann, erased_by=audited_by(keyring))

    with session_scope(engine) as session:
        records = [
            (MissingLookalikes(bob_template, bob), _record(ann, cid)),  # made while Ann was enrolled
            (MissingLookalikes(cid_template, cid), _record(bob)),
        ]
        assert store_missing_lookalikes(session, keyring, model_id=MODEL_ID, records=records) == 1

    stored = stored_records(engine)
    assert stored[bob_template] is None and stored[cid_template] is not None


def test_an_altered_record_of_someone_else_does_not_stop_an_erasure(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    enroll_person: Callable[..., int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: the erasure opened every other record and failed on one that could not be authenticated
    (DecryptionError), so somebody else's altered row kept a person from being erased. It is nulled too:
    whom it names cannot be known."""
    ann = enroll_person("Ann", group_faces[0])
    twin = enroll_person("Twin", group_faces[0])
    bob = enroll_person("Bob", group_faces[1])
    bob_template = _named_by(engine, keyring, recognizer)[bob][0]
    altered = bytearray(stored_records(engine)[bob_template] or b"")
    altered[-1] ^= 1
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE face_template SET lookalikes = :record WHERE id = :id"),
            {"record": bytes(altered), "id": bob_template},
        )

    with caplog.at_level(logging.WARNING, logger="storage.lookalike_purge"), session_scope(engine) as session:
        erase_person(session, ann, erased_by=audited_by(keyring))

    after = _named_by(engine, keyring, recognizer)
    assert set(after) == {twin, bob}
    assert after[bob] == (bob_template, None) and after[twin][1] is None
    assert f"records of person {bob} cannot be authenticated; nulled" in caplog.text
