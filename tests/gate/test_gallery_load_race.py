"""A template committed while a gallery loads in full (SQLite, PostgreSQL).

A full load reads the gallery version, then the templates, in separate statements: an enrollment committed
between them is in the loaded gallery, stamped with the version before it. The next refresh's change log
then names that template again; the refresh must end with every stored template once, not fail.
"""

from __future__ import annotations

import time

import numpy as np
from sqlalchemy import event

from recognition import GallerySync, Recognizer, vector_to_bytes
from storage import (
    Engine,
    Keyring,
    NewTemplate,
    StoredGallery,
    bump_gallery_version,
    create_person,
    session_scope,
    store_templates,
)


def _enroll(engine: Engine, keyring: Keyring, recognizer: Recognizer, vector: np.ndarray) -> str:
    """One person with one template, committed with its gallery version, as an enrollment does."""
    with session_scope(engine) as session:
        person_id = create_person(session, name="enrolled meanwhile").id or 0
        new = NewTemplate(person_id, vector_to_bytes(vector), "p.jpg")
        (template_id,) = store_templates(session, keyring, model_id=recognizer.model_id, templates=[new])
        bump_gallery_version(session)
    return template_id


def _refresh(sync: GallerySync, engine: Engine, keyring: Keyring, recognizer: Recognizer) -> bool:
    with session_scope(engine) as session:
        return sync.refresh(StoredGallery(session, keyring, model_id=recognizer.model_id))


def test_a_template_committed_during_a_full_load_ends_in_the_gallery_once(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(2, recognizer.embedder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _enroll(engine, keyring, recognizer, vectors[0])
    sync = GallerySync(recognizer, monotonic=time.monotonic)
    meanwhile: list[str] = []

    def enroll_meanwhile(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM face_template" in statement and not meanwhile:
            meanwhile.append("enrolling")  # before the enrollment's own statements reach this hook
            meanwhile.append(_enroll(engine, keyring, recognizer, vectors[1]))

    event.listen(engine, "before_cursor_execute", enroll_meanwhile)
    try:
        assert _refresh(sync, engine, keyring, recognizer)
    finally:
        event.remove(engine, "before_cursor_execute", enroll_meanwhile)
    assert len(sync.gallery) == 2, "the load read the template committed after its version"

    assert _refresh(sync, engine, keyring, recognizer)
    assert len(sync.gallery) == 2
    assert sync.gallery.search(vectors[1], k=1)[0].score > 0.999
    assert not _refresh(sync, engine, keyring, recognizer)
