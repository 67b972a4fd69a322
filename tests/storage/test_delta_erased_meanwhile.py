"""A gallery delta read while one of its people is erased: a consistent answer, never 'no data key'."""

from __future__ import annotations

import numpy as np

from storage import Engine, Keyring, Session, bump_gallery_version, erase_person, gallery_delta, session_scope
from tests.concurrency import held_after
from tests.storage.audit_helpers import audited_by
from tests.storage.template_helpers import MODEL_ID, store_people

BLOCKED_S = 2.0


def test_a_person_erased_between_a_deltas_reads_is_no_failure(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """Regression: the delta read the templates it adds, then their people's data keys, in two statements;
    an erasure committed in between left templates without a key, and the delta raised NotFound ('person
    N has no data key'): a running gate denied every face until its next check, and /identify or an
    enrollment's duplicate check answered 404 naming another person."""
    with session_scope(engine) as session:
        since = bump_gallery_version(session)
    ann, bob = store_people(engine, keyring, real_vectors[:2])
    with session_scope(engine) as session:
        bump_gallery_version(session)
    deltas: list[object] = []

    def read(session: Session) -> None:
        deltas.append(gallery_delta(session, keyring, model_id=MODEL_ID, since_version=since))

    reader, eraser = held_after(
        engine,
        read,
        fragment="face_template.id IN",
        second=lambda session: erase_person(session, ann, erased_by=audited_by(keyring)),
        blocked_s=BLOCKED_S,
    )

    assert eraser.errors == [] and reader.errors == [], (eraser.errors, reader.errors)
    (delta,) = deltas
    assert delta is not None and bob in {template.person_id for template in delta.added}  # type: ignore[attr-defined]
