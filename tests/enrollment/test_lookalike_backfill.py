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
    delete_person,
    session_scope,
    store_missing_lookalikes,
    store_templates,
)
from tests.concurrency import held_after
from tests.storage.audit_helpers import audited_by
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


def _template_ids_out_of_insertion_order(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> int:
    """A person whose templates (stored one per transaction, without records) are not in id order: the
    backfill updates them by id, a deletion of the person removes them in the order they were stored.
    Returns the person's id."""
    rng = np.random.default_rng(7)
    ids: list[str] = []
    with session_scope(engine) as session:
        bump_gallery_version(session)  # a database in use has its version row
        person_id = create_person(session, name="Ann").id
        assert person_id is not None
    while len(ids) < 2 or min(ids) == ids[0]:
        vector = rng.normal(size=recognizer.embedder.dim).astype(np.float32)
        new = NewTemplate(person_id, vector_to_bytes(vector / np.linalg.norm(vector)), "old.jpg")
        with session_scope(engine) as session:
            ids += store_templates(session, keyring, model_id=recognizer.model_id, templates=[new])
    return person_id


def test_the_backfill_and_a_deletion_of_a_person_take_turns(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    """The person is deleted while the backfill writes their records: the backfill locked only template
    rows, by id, and the deletion (gallery version row, person, then templates in stored order) locked
    the first stored template and waited for one the backfill held, which then waited for the first:
    PostgreSQL aborted one of them for the deadlock. Now the backfill takes the version row first."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time through by itself: no deadlock to meet")
    person_id = _template_ids_out_of_insertion_order(engine, keyring, recognizer)
    results: list[LookalikeBackfill] = []
    removed: list[int] = []

    backfill, deletion = held_after(
        engine,
        lambda _session: results.append(backfill_lookalikes(engine, keyring, recognizer)),
        fragment="UPDATE face_template",
        second=lambda session: removed.append(
            delete_person(session, person_id, erased_by=audited_by(keyring))
        ),
        blocked_s=2.0,
    )

    assert backfill.errors == [] and deletion.errors == [], {
        "backfill": backfill.errors,
        "deletion": deletion.errors,
    }
    assert results[0].stored == results[0].missing == removed[0]
    with session_scope(engine) as session:
        assert count_templates_without_lookalikes(session, model_id=recognizer.model_id) == 0
