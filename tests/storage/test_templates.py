"""Encrypted templates on SQLite and PostgreSQL: round trip, row binding, erasure, no plaintext at rest."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import psycopg
import pytest
from sqlalchemy import text

from recognition import vector_to_bytes
from storage import (
    DecryptionError,
    Engine,
    Keyring,
    NotFound,
    bump_gallery_version,
    create_person,
    delete_person,
    delete_template,
    gallery_delta,
    gallery_version,
    iter_templates,
    session_scope,
    store_template,
)
from tests.plaintext import template_leaks
from tests.storage.audit_helpers import audited_by
from tests.storage.template_helpers import MODEL_ID, move_ciphertext, store_bulk, store_people


def test_templates_decrypt_to_the_stored_vectors(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    person_ids = store_people(engine, keyring, real_vectors)

    with session_scope(engine) as session:
        stored = {t.person_id: t.plaintext for t in iter_templates(session, keyring, model_id=MODEL_ID)}
        assert list(iter_templates(session, keyring, model_id="another-model")) == []

    assert stored == {pid: vector_to_bytes(v) for pid, v in zip(person_ids, real_vectors, strict=True)}


def test_ciphertext_copied_onto_another_persons_row_fails_to_decrypt(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """Someone with write access swaps two people's templates: decryption refuses rather than misroutes."""
    store_people(engine, keyring, real_vectors[:2])
    move_ciphertext(engine)

    with session_scope(engine) as session, pytest.raises(DecryptionError):
        list(iter_templates(session, keyring, model_id=MODEL_ID))


def test_deleting_a_person_erases_their_templates_and_bumps_the_gallery(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    first, second, _ = store_people(engine, keyring, real_vectors)
    with session_scope(engine) as session:
        before = gallery_version(session)
        assert delete_person(session, first, erased_by=audited_by(keyring)) == 1

    with session_scope(engine) as session:
        remaining = {t.person_id for t in iter_templates(session, keyring, model_id=MODEL_ID)}
        assert gallery_version(session) == before + 1
        with pytest.raises(NotFound, match=str(first)):
            delete_person(session, first, erased_by=audited_by(keyring))
    assert first not in remaining and second in remaining


# --- no plaintext at rest -------------------------------------------------------------------------------


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


def _pg_dump(database_url: str) -> bytes:
    """A plain-format pg_dump of the test schema: what a backup of the production database holds."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed (Debian package postgresql-client)")
    plain_url, _, _ = database_url.replace("postgresql+psycopg://", "postgresql://").partition("?")
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        schema = connection.execute("SELECT current_schema()").fetchone()
    assert schema is not None
    dump = subprocess.run(
        [pg_dump, "--schema", schema[0], "--dbname", plain_url], capture_output=True, check=True
    ).stdout
    assert b"COPY " in dump and b"face_template" in dump
    return dump


def _stored_bytes(database_url: str, engine: Engine) -> bytes:
    engine.dispose()  # SQLite: flush the WAL and close the file before reading it.
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return _sqlite_file_bytes(database_url)
    return _postgres_table_text(database_url) + _pg_dump(database_url)


def test_the_database_holds_no_plaintext_template(
    database_url: str, engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    store_people(engine, keyring, real_vectors)

    assert template_leaks(_stored_bytes(database_url, engine), real_vectors) == []


def test_bulk_stored_templates_leave_no_plaintext_either(
    database_url: str, engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    with session_scope(engine) as session:
        owners = [create_person(session, name=f"bulk {n}").id or 0 for n in range(len(real_vectors))]
    store_bulk(engine, keyring, owners, real_vectors)

    assert template_leaks(_stored_bytes(database_url, engine), real_vectors) == []


def test_the_scan_finds_plaintext_when_it_is_there(
    database_url: str, engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    """The scan is evidence only if it can fail: a template written in the clear beside them is found."""
    store_people(engine, keyring, real_vectors)
    leaked = real_vectors[0]
    with engine.begin() as connection:
        blob = "BLOB" if engine.dialect.name == "sqlite" else "BYTEA"
        connection.execute(text(f"CREATE TABLE leaked (raw {blob}, readable TEXT)"))
        connection.execute(
            text("INSERT INTO leaked VALUES (:raw, :readable)"),
            {"raw": vector_to_bytes(leaked), "readable": repr([float(x) for x in leaked])},
        )

    found = template_leaks(_stored_bytes(database_url, engine), real_vectors)

    assert "vector 0: python-list" in found
    assert {"vector 0: float32-first-16-bytes", "vector 0: float32-hex"} & set(found)
    assert not any(entry.startswith(("vector 1", "vector 2")) for entry in found)


def test_deleting_one_template_gives_gates_a_delta_with_the_rest(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray]
) -> None:
    with session_scope(engine) as session:
        person = create_person(session, name="Ada")
        assert person.id is not None
        keep, drop = (
            store_template(
                session,
                keyring,
                person_id=person.id,
                model_id="m",
                plaintext=vector_to_bytes(v),
                source_name="x",
            ).id
            for v in real_vectors[:2]
        )
        bump_gallery_version(session)
    with session_scope(engine) as session:
        version = gallery_version(session)
        delete_template(session, person_id=person.id, template_id=drop, erased_by=audited_by(keyring))
    with session_scope(engine) as session:
        delta = gallery_delta(session, keyring, model_id="m", since_version=version)
    assert delta is not None and delta.removed_person_ids == [person.id]
    assert [t.template_id for t in delta.added] == [keep]
