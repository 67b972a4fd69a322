"""A gate's full load reads the look-alike neighbours stored with each template (SQLite and PostgreSQL).

Enrollment stores each template's neighbours in the gallery it joins (`Gallery.neighbour_records`),
encrypted beside the template; a gate loading the gallery reads them instead of searching a million
templates, and must end with the pairs the one-by-one search gives.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from sqlalchemy import text

from recognition import GallerySync, Recognizer, vector_to_bytes
from storage import (
    DecryptionError,
    Engine,
    Keyring,
    NewTemplate,
    StoredGallery,
    bump_gallery_version,
    create_person,
    session_scope,
    store_templates,
)

PEOPLE = 14


def _close_vectors(dim: int) -> np.ndarray:
    """Unit vectors around a few shared directions, so many pairs of people score above the threshold."""
    rng = np.random.default_rng(14)
    centres = rng.normal(size=(3, dim))
    vectors = centres[np.arange(PEOPLE) % 3] + 0.9 * rng.normal(size=(PEOPLE, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _enroll_one_by_one(engine: Engine, keyring: Keyring, recognizer: Recognizer, vectors: np.ndarray):
    """Store each person's template with its neighbours in the gallery so far, as enrollment does."""
    recorder, records = recognizer.new_gallery(), []
    for vector in vectors:
        with session_scope(engine) as session:
            person_id = create_person(session, name="look-alike").id or 0
            (record,) = recorder.neighbour_records([person_id], vector[None, :])
            (template_id,) = store_templates(
                session,
                keyring,
                model_id=recognizer.model_id,
                templates=[NewTemplate(person_id, vector_to_bytes(vector), "p.jpg", lookalikes=record)],
            )
            bump_gallery_version(session)
        recorder.add(template_id, person_id, vector)
        records.append(record)
    return recorder, records


def _gate_gallery(engine: Engine, keyring: Keyring, recognizer: Recognizer):
    sync = GallerySync(recognizer, monotonic=time.monotonic)
    with session_scope(engine) as session:
        sync.refresh(StoredGallery(session, keyring, model_id=recognizer.model_id))
    return sync.gallery


def test_a_full_load_reads_the_stored_pairs_and_they_equal_the_searched_ones(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    vectors = _close_vectors(recognizer.embedder.dim)
    recorder, _ = _enroll_one_by_one(engine, keyring, recognizer, vectors)
    floor = recognizer.cos_threshold

    loaded = _gate_gallery(engine, keyring, recognizer)

    expected = recorder.confusable_pairs(floor)
    assert len(expected) >= 5, "the vectors are built so that many people look alike"
    assert loaded.confusable_pairs(floor) == pytest.approx(expected, abs=1e-6)
    with engine.begin() as connection:
        connection.execute(text("UPDATE face_template SET lookalikes = NULL"))
    assert _gate_gallery(engine, keyring, recognizer).confusable_pairs(floor).keys() >= expected.keys(), (
        "without stored records the gate searches the whole gallery: every template's full-gallery "
        "neighbours, a superset of what each found among those enrolled before it"
    )


def test_stored_neighbours_are_encrypted_and_bound_to_their_row(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    vectors = _close_vectors(recognizer.embedder.dim)[:4]
    _, records = _enroll_one_by_one(engine, keyring, recognizer, vectors)
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT id, lookalikes FROM face_template ORDER BY id")).all()
        stored = b"".join(bytes(blob) for _, blob in rows if blob is not None)
        assert any(records), "later templates have neighbours among the earlier ones"
        assert not [record for record in records if record and record[:12] in stored]
        (first_id, _), (_, second_blob), *_ = [row for row in rows if row[1] is not None]
        connection.execute(
            text("UPDATE face_template SET lookalikes = :blob WHERE id = :id"),
            {"blob": second_blob, "id": first_id},
        )

    with pytest.raises(DecryptionError):
        _gate_gallery(engine, keyring, recognizer)
