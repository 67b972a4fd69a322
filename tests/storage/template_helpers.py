"""Template test helpers: store real SFace embeddings, one person each, and read them back."""

from __future__ import annotations

import os

import numpy as np
from sqlalchemy import text

from recognition import vector_to_bytes
from storage import (
    Cipher,
    Engine,
    NewTemplate,
    bump_gallery_version,
    create_person,
    iter_templates,
    session_scope,
    store_template,
    store_templates,
)

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


def store_bulk(engine: Engine, cipher: Cipher, owners: list[int], vectors: list[np.ndarray]) -> list[str]:
    """Store one template per (owner, vector) with `store_templates` and bump the version; the ids."""
    with session_scope(engine) as session:
        template_ids = store_templates(
            session,
            cipher,
            model_id=MODEL_ID,
            templates=[
                NewTemplate(person_id=owner, plaintext=vector_to_bytes(vector), source_name=f"bulk-{n}.jpg")
                for n, (owner, vector) in enumerate(zip(owners, vectors, strict=True))
            ],
        )
        bump_gallery_version(session)
    return template_ids


def decrypted(engine: Engine, cipher: Cipher) -> dict[int, bytes]:
    """Person id → template plaintext, for every stored template."""
    with session_scope(engine) as session:
        return {t.person_id: t.plaintext for t in iter_templates(session, cipher, model_id=MODEL_ID)}


def move_ciphertext(engine: Engine) -> list[bytes]:
    """Copy the second template row's nonce and ciphertext onto the first (by id); every row's nonce."""
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT id, nonce, ciphertext FROM face_template ORDER BY id")).all()
        (first_id, *_), (_, second_nonce, second_ciphertext), *_ = rows
        connection.execute(
            text("UPDATE face_template SET nonce = :n, ciphertext = :c WHERE id = :id"),
            {"n": second_nonce, "c": second_ciphertext, "id": first_id},
        )
    return [row[1] for row in rows]


def person_with_templates(
    engine: Engine, cipher: Cipher, *, count: int, model_id: str = MODEL_ID
) -> tuple[int, list[str]]:
    """A new person with `count` random templates, in a database in use (its gallery version row made:
    the first change's insert of it would hold other SQLite writers out); their id and template ids."""
    with session_scope(engine) as session:
        bump_gallery_version(session)
        person_id = create_person(session, name="Ann").id
        assert person_id is not None
        ids = [
            store_template(
                session,
                cipher,
                person_id=person_id,
                model_id=model_id,
                plaintext=os.urandom(16),
                source_name="x",
            ).id
            for _ in range(count)
        ]
    return person_id, ids
