"""Envelope encryption: per-person data keys, crypto-shredding, rotation while running, KMS hook."""

from __future__ import annotations

import secrets
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import (
    DecryptionError,
    Engine,
    Keyring,
    KeyringError,
    NotFound,
    Session,
    StorageSettings,
    UnknownKeyId,
    add_key_to_file,
    create_person,
    delete_person,
    generate_key,
    iter_templates,
    load_keyring,
    master_key_usage,
    person_data_key,
    rewrap_person_keys,
    session_scope,
    store_template,
)
from tests.concurrency import both_check_before_either_commits
from tests.fakes import RecordingKms
from tests.storage.audit_helpers import audited_by
from tests.storage.template_helpers import MODEL_ID, decrypted, store_people

WAIT_S = 60.0  # generous: the shared machine is heavily loaded


def test_each_person_gets_their_own_wrapped_data_key(engine: Engine, keyring: Keyring, real_vectors) -> None:
    first, second = store_people(engine, keyring, real_vectors[:2])

    with session_scope(engine) as session:
        first_key = person_data_key(session, keyring, first)
        second_key = person_data_key(session, keyring, second)
        assert master_key_usage(session) == {keyring.primary_key_id: 2}
    with engine.connect() as connection:
        wrapped = [bytes(row[0]) for row in connection.execute(text("SELECT wrapped_key FROM person_key"))]
    assert first_key != second_key and len(first_key) == 32
    assert all(key not in blob for key in (first_key, second_key) for blob in wrapped)


def test_a_wrapped_key_copied_onto_another_person_fails(
    engine: Engine, keyring: Keyring, real_vectors
) -> None:
    first, second = store_people(engine, keyring, real_vectors[:2])
    with engine.begin() as connection:
        nonce, wrapped = connection.execute(
            text("SELECT nonce, wrapped_key FROM person_key WHERE person_id = :p"), {"p": first}
        ).one()
        connection.execute(
            text("UPDATE person_key SET nonce = :n, wrapped_key = :w WHERE person_id = :p"),
            {"n": nonce, "w": wrapped, "p": second},
        )

    with session_scope(engine) as session, pytest.raises(DecryptionError):
        person_data_key(session, keyring, second)


def test_erasing_a_person_makes_copies_of_their_templates_unreadable(
    engine: Engine, keyring: Keyring, real_vectors
) -> None:
    """Crypto-shredding: template rows copied out before the erasure (a backup of the templates)
    cannot be decrypted afterwards, because the only copy of the data key is gone."""
    first, second = store_people(engine, keyring, real_vectors[:2])
    with engine.connect() as connection:
        copied = connection.execute(text("SELECT * FROM face_template ORDER BY person_id")).mappings().all()
    with session_scope(engine) as session:
        delete_person(session, first, erased_by=audited_by(keyring))
    with engine.begin() as connection:
        # Restore the template table from the copy, as a restore of an old data backup would.
        connection.execute(text("DELETE FROM face_template"))
        connection.execute(
            text("INSERT INTO person (id, name, created_at) VALUES (:id, 'restored', :t)"),
            {"id": first, "t": copied[0]["created_at"]},
        )
        for row in copied:
            columns = ", ".join(row.keys())
            values = ", ".join(f":{name}" for name in row.keys())
            connection.execute(text(f"INSERT INTO face_template ({columns}) VALUES ({values})"), dict(row))

    with session_scope(engine) as session:
        with pytest.raises(NotFound, match="no data key"):
            list(iter_templates(session, keyring, model_id=MODEL_ID))
        assert person_data_key(session, keyring, second)


def test_a_different_master_key_cannot_read_anything(engine: Engine, keyring: Keyring, real_vectors) -> None:
    store_people(engine, keyring, real_vectors[:2])

    with pytest.raises(UnknownKeyId, match="not in the keyring"):
        decrypted(engine, Keyring([secrets.token_bytes(32)]))


def test_rotation_rewraps_data_keys_and_a_running_reader_follows_the_key_file(
    engine: Engine, clean_environment: Path, real_vectors
) -> None:
    settings = StorageSettings()
    running = load_keyring(settings, create_if_missing=True)  # e.g. a gate started before the rotation
    first, second = store_people(engine, running, real_vectors[:2])
    expected = decrypted(engine, running)
    old_key_id = running.primary_key_id

    new_key_id = add_key_to_file(settings)
    rotator = load_keyring(settings)
    with session_scope(engine) as session:
        assert rewrap_person_keys(session, rotator) == 2
        assert rewrap_person_keys(session, rotator) == 0
        assert master_key_usage(session) == {new_key_id: 2}
    # The old key is retired by hand once nothing needs it: only the new key remains in the file.
    key_file = settings.resolved_key_file
    key_file.write_text(key_file.read_text().splitlines()[0] + "\n")

    assert rotator.primary_key_id == new_key_id != old_key_id
    assert decrypted(engine, running) == expected == decrypted(engine, load_keyring(settings))
    assert running.primary_key_id == new_key_id
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert set(expected) == {first, second}


def test_rotation_refuses_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_MASTER_KEY", generate_key())

    with pytest.raises(KeyringError, match="FACEGATE_MASTER_KEY=NEW,OLD"):
        add_key_to_file(StorageSettings())


def test_several_keys_in_the_environment_newest_first(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, real_vectors
) -> None:
    old, new = generate_key(), generate_key()
    monkeypatch.setenv("FACEGATE_MASTER_KEY", old)
    store_people(engine, load_keyring(StorageSettings()), real_vectors[:2])
    monkeypatch.setenv("FACEGATE_MASTER_KEY", f"{new},{old}")
    both = load_keyring(StorageSettings())

    with session_scope(engine) as session:
        assert rewrap_person_keys(session, both) == 2
    monkeypatch.setenv("FACEGATE_MASTER_KEY", new)
    assert len(decrypted(engine, load_keyring(StorageSettings()))) == 2


def test_kms_hook_supplies_the_master_key(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, real_vectors
) -> None:
    monkeypatch.setenv("FACEGATE_KMS_HOOK", "tests.fakes:recording_kms")

    kms = load_keyring(StorageSettings())
    assert isinstance(kms, RecordingKms)
    store_people(engine, kms, real_vectors[:2])

    assert len(decrypted(engine, kms)) == 2
    assert kms.calls.count("seal") == 2 and kms.calls.count("open") == 2


@pytest.mark.parametrize(
    ("hook", "message"),
    [("no_colon", "package.module:factory"), ("tests.fakes:missing", "has no attribute 'missing'")],
)
def test_bad_kms_hook_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, hook: str, message: str) -> None:
    monkeypatch.setenv("FACEGATE_KMS_HOOK", hook)

    with pytest.raises(KeyringError, match=message):
        load_keyring(StorageSettings())


def _store_one(keyring: Keyring, person_id: int, plaintext: bytes) -> Callable[[Session], object]:
    def store(session: Session) -> object:
        return store_template(
            session, keyring, person_id=person_id, model_id=MODEL_ID, plaintext=plaintext, source_name="x"
        )

    return store


@pytest.mark.parametrize("first_use", ["store_template", "person_data_key"])
def test_two_first_uses_of_a_data_key_at_once_share_the_stored_key(
    engine: Engine, keyring: Keyring, first_use: str
) -> None:
    """Both look for the person's key before either commits one: the later insert waits, does nothing,
    and uses the key the earlier stored (a key of its own would leave its template unreadable)."""
    with session_scope(engine) as session:
        person_id = create_person(session, name="Ann").id
        assert person_id is not None
    plaintexts, keys = iter([b"first template", b"second template"]), []

    def first_use_of_key(session: Session) -> None:
        if first_use == "store_template":
            _store_one(keyring, person_id, next(plaintexts))(session)
        else:
            keys.append(person_data_key(session, keyring, person_id, create=True))

    workers = both_check_before_either_commits(
        engine, first_use_of_key, fragment="FROM person_key", is_after=True, wait_s=WAIT_S
    )

    assert [worker.errors for worker in workers] == [[], []]
    with session_scope(engine) as session:
        stored = person_data_key(session, keyring, person_id)
        assert master_key_usage(session) == {keyring.primary_key_id: 1}
        read = sorted(t.plaintext for t in iter_templates(session, keyring, model_id=MODEL_ID))
    if first_use == "store_template":
        assert read == [b"first template", b"second template"]
    else:
        assert keys == [stored, stored]
