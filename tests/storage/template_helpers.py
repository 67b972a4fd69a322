"""Template test helpers: store real SFace embeddings, one person each, and read them back."""

from __future__ import annotations

import numpy as np

from recognition import vector_to_bytes
from storage import Cipher, Engine, create_person, iter_templates, session_scope, store_template

MODEL_ID = "sface-2021dec-int8bq"


def store_people(engine: Engine, cipher: Cipher, vectors: list[np.ndarray]) -> list[int]:
    """One new person per vector, each with that vector as their template; returns the person ids."""
    person_ids = []
    with session_scope(engine) as session:
        for index, vector in enumerate(vectors):
            person = create_person(session, name=f"person {index}")
            assert person.id is not None
            store_template(
                session,
                cipher,
                person_id=person.id,
                model_id=MODEL_ID,
                plaintext=vector_to_bytes(vector),
                source_name=f"photo-{index}.jpg",
            )
            person_ids.append(person.id)
    return person_ids


def decrypted(engine: Engine, cipher: Cipher) -> dict[int, bytes]:
    """Person id → template plaintext, for every stored template."""
    with session_scope(engine) as session:
        return {t.person_id: t.plaintext for t in iter_templates(session, cipher, model_id=MODEL_ID)}
