"""Encrypted templates on SQLite and PostgreSQL: round trip, row binding, erasure, no plaintext at rest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import psycopg
import pytest
from sqlalchemy import text

from recognition import Recognizer, vector_to_bytes
from storage import (
    DecryptionError,
    Engine,
    Keyring,
    NotFound,
    create_person,
    delete_person,
    gallery_version,
    iter_templates,
    session_scope,
    store_template,
)

MODEL_ID = "sface-2021dec-int8bq"


@pytest.fixture(scope="module")
def real_vectors(recognizer: Recognizer, group_faces: list[bytes]) -> list[np.ndarray]:
    """SFace embeddings of the first three people in the group photo."""
    vectors = []
    for jpeg in group_faces[:3]:
        (observation,) = recognizer.observe(recognizer.decode(jpeg))
        vectors.append(observation.embedding.vector)
    return vectors


def _store(engine: Engine, keyring: Keyring, vectors: list[np.ndarray]) -> list[int]:
    """One person per vector; returns the person ids."""
    person_ids = []
    with session_scope(engine) as session:
        for index, vector in enumerate(vectors):
            person = create_person(session, name=f"person {index}")
            assert person.id is not None
            store_template(
                session,
                keyring,
                person_id=person.id,
                model_id=MODEL_ID,
                plaintext=vector_to_bytes(vector),
                source_name=f"photo-{index}.jpg",
            )
            person_ids.append(person.id)
    return person_ids


def test_templates_decrypt_to_the_stored_vectors(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    person_ids = _store(engine, keyring, real_vectors)

    with session_scope(engine) as session:
        stored = {t.person_id: t.plaintext for t in iter_templates(session, keyring, model_id=MODEL_ID)}
        assert list(iter_templates(session, keyring, model_id="another-model")) == []

    assert stored == {pid: vector_to_bytes(v) for pid, v in zip(person_ids, real_vectors, strict=True)}


def test_ciphertext_copied_onto_another_persons_row_fails_to_decrypt(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """Someone with write access swaps two people's templates: decryption refuses rather than misroutes."""
    _store(engine, keyring, real_vectors[:2])
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT id, nonce, ciphertext FROM face_template ORDER BY id")).all()
        (first_id, *_), (_, second_nonce, second_ciphertext) = rows
        connection.execute(
            text("UPDATE face_template SET nonce = :n, ciphertext = :c WHERE id = :id"),
            {"n": second_nonce, "c": second_ciphertext, "id": first_id},
        )

    with session_scope(engine) as session, pytest.raises(DecryptionError):
        list(iter_templates(session, keyring, model_id=MODEL_ID))


def test_deleting_a_person_erases_their_templates_and_bumps_the_gallery(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    first, second, _ = _store(engine, keyring, real_vectors)
    with session_scope(engine) as session:
        before = gallery_version(session)
        assert delete_person(session, first) == 1

    with session_scope(engine) as session:
        remaining = {t.person_id for t in iter_templates(session, keyring, model_id=MODEL_ID)}
        assert gallery_version(session) == before + 1
        with pytest.raises(NotFound, match=str(first)):
            delete_person(session, first)
    assert first not in remaining and second in remaining


# --- no plaintext at rest -------------------------------------------------------------------------------


def _needles(vector: np.ndarray) -> dict[str, bytes]:
    """Byte and text forms a careless implementation would write: raw floats, hex, decimal text."""
    float32 = vector.astype("<f4").tobytes()
    strongest = np.argsort(-np.abs(vector))[:4]
    needles = {
        "float32": float32,
        "float32-first-16-bytes": float32[:16],
        "float64": vector.astype("<f8").tobytes()[:32],
        "float32-hex": float32[:16].hex().encode(),
        "float32-big-endian": vector.astype(">f4").tobytes()[:16],
        "python-list": repr([float(x) for x in vector[:3]])[1:-1].encode(),
        "numpy-text": np.array2string(vector[:3], separator=", ")[1:-1].strip().encode(),
    }
    for rank, index in enumerate(strongest):
        needles[f"decimal-{rank}"] = f"{vector[index]:.6f}".encode()
    return needles


def _leaks(haystack: bytes, vectors: list[np.ndarray]) -> list[str]:
    return [
        f"vector {number}: {form}"
        for number, vector in enumerate(vectors)
        for form, needle in _needles(vector).items()
        if needle in haystack
    ]


def _sqlite_file_bytes(database_url: str) -> bytes:
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def _postgres_table_text(database_url: str) -> bytes:
    """Every row of every table in the test schema, as PostgreSQL renders it (bytea in hex)."""
    plain_url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain_url) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        ]
        assert "face_template" in tables
        chunks = [
            str(row[0]).encode()
            for table in tables
            for row in connection.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608 (catalogue names)
        ]
    return b"\n".join(chunks)


def _stored_bytes(database_url: str, engine: Engine) -> bytes:
    engine.dispose()  # SQLite: flush the WAL and close the file before reading it.
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return _sqlite_file_bytes(database_url)
    return _postgres_table_text(database_url)


def test_the_database_holds_no_plaintext_template(
    database_url: str, engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    _store(engine, keyring, real_vectors)

    assert _leaks(_stored_bytes(database_url, engine), real_vectors) == []


def test_the_scan_finds_plaintext_when_it_is_there(
    database_url: str, engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """The scan is evidence only if it can fail: a template written in the clear beside them is found."""
    _store(engine, keyring, real_vectors)
    leaked = real_vectors[0]
    with engine.begin() as connection:
        blob = "BLOB" if engine.dialect.name == "sqlite" else "BYTEA"
        connection.execute(text(f"CREATE TABLE leaked (raw {blob}, readable TEXT)"))
        connection.execute(
            text("INSERT INTO leaked VALUES (:raw, :readable)"),
            {"raw": vector_to_bytes(leaked), "readable": repr([float(x) for x in leaked])},
        )

    found = _leaks(_stored_bytes(database_url, engine), real_vectors)

    assert "vector 0: python-list" in found
    assert {"vector 0: float32-first-16-bytes", "vector 0: float32-hex"} & set(found)
    assert not any(entry.startswith(("vector 1", "vector 2")) for entry in found)
