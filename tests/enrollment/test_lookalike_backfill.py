"""The look-alike backfill: records for templates stored before 0011, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import numpy as np
import pytest

from enrollment import EnrollmentSettings, LookalikeBackfill, backfill_lookalikes, confusable_pairs
from recognition import Gallery, GallerySync, Recognizer, vector_to_bytes
from storage import (
    Engine,
    Keyring,
    MissingLookalikes,
    NewTemplate,
    StoredGallery,
    bump_gallery_version,
    count_templates_without_lookalikes,
    create_person,
    session_scope,
    store_missing_lookalikes,
    store_templates,
)
from tests.storage.lookalike_helpers import stored_records, upgrade_from_0010


def _gate_gallery(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> Gallery:
    """The gallery a gate's full load builds: stored records read, templates without one searched."""
    sync = GallerySync(recognizer, monotonic=time.monotonic)
    with session_scope(engine) as session:
        sync.refresh(StoredGallery(session, keyring, model_id=recognizer.model_id))
    return sync.gallery


def test_the_backfill_stores_exactly_the_missing_records_once(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, enroll_person, group_faces
) -> None:
    erin = enroll_person("Erin", group_faces[2])
    twin = enroll_person("Erin again", group_faces[2])
    enroll_person("Frank", group_faces[3])
    upgrade_from_0010(engine)
    gina = enroll_person("Gina", group_faces[0])
    with session_scope(engine) as session:
        other = NewTemplate(erin, vector_to_bytes(np.ones(4, dtype=np.float32) / 2), "other.jpg")
        (other_id,) = store_templates(session, keyring, model_id="another-model", templates=[other])
    before = stored_records(engine)
    legacy = {template_id for template_id, record in before.items() if record is None} - {other_id}
    assert len(legacy) == 3
    threshold = recognizer.cos_threshold
    searched = _gate_gallery(engine, keyring, recognizer).confusable_pairs(threshold)
    seen: list[tuple[int, int]] = []

    result = backfill_lookalikes(
        engine, keyring, recognizer, batch_templates=2, progress=lambda *done: seen.append(done)
    )

    assert result == LookalikeBackfill(missing=3, stored=3)
    assert seen == [(2, 3), (3, 3)]
    after = stored_records(engine)
    assert {t for t in before if after[t] != before[t]} == legacy
    assert after[other_id] is None, "another model's templates are left alone"
    gallery = _gate_gallery(engine, keyring, recognizer)
    assert (erin, twin) in gallery.lookalikes(threshold)
    assert gallery.confusable_pairs(threshold) == pytest.approx(searched)
    with session_scope(engine) as session:
        assert count_templates_without_lookalikes(session, model_id=recognizer.model_id) == 0
        floor = threshold - EnrollmentSettings().confusable_margin_cos
        listed = confusable_pairs(session, keyring, recognizer, min_score=floor)
        assert [(pair.person_a, pair.person_b) for pair in listed] == [(erin, twin)]
        (enrolled,) = [template_id for template_id, record in before.items() if record is not None]
        recorded = [(MissingLookalikes(enrolled, gina), b"")]
        assert store_missing_lookalikes(session, keyring, model_id=recognizer.model_id, records=recorded) == 0

    assert backfill_lookalikes(engine, keyring, recognizer) == LookalikeBackfill(missing=0, stored=0)
    assert stored_records(engine) == after


def _close_vectors(dim: int, people: int) -> np.ndarray:
    """Two templates each around a few shared directions, so many pairs of people look alike."""
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(3, dim))
    vectors = centres[np.arange(2 * people) % 3] + 0.9 * rng.normal(size=(2 * people, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_backfilled_records_give_the_pairs_a_search_gives(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    vectors = _close_vectors(recognizer.embedder.dim, people=14)
    with session_scope(engine) as session:
        owners = [create_person(session, name=f"person {index}").id or 0 for index in range(14)]
        templates = [
            NewTemplate(owners[row // 2], vector_to_bytes(vector), "p.jpg")
            for row, vector in enumerate(vectors)
        ]
        store_templates(session, keyring, model_id=recognizer.model_id, templates=templates)
        bump_gallery_version(session)
    searched = _gate_gallery(engine, keyring, recognizer).confusable_pairs(-1.0)

    assert backfill_lookalikes(engine, keyring, recognizer) == LookalikeBackfill(missing=28, stored=28)

    assert len(searched) >= 10, "the vectors are built so that many people look alike"
    assert _gate_gallery(engine, keyring, recognizer).confusable_pairs(-1.0) == pytest.approx(searched)
