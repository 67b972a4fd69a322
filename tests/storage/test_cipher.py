"""AES-GCM keyring: round trip, row binding, tampering, rotation, and loading the master key."""

from __future__ import annotations

import base64
import dataclasses
import os
import secrets
import stat
from pathlib import Path

import pytest

from storage import (
    DecryptionError,
    Keyring,
    MissingKey,
    StorageSettings,
    UnknownKeyId,
    generate_key,
    key_id_of,
    load_keyring,
)


def _aad(template_id: str = "a" * 32, person_id: int = 1, model_id: str = "sface") -> bytes:
    """Row binding in the shape storage uses; tests/storage/test_templates.py swaps real rows."""
    return f"facegate/template/v1|{template_id}|{person_id}|{model_id}".encode()


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_for_random_plaintexts(seed: int) -> None:
    keyring = Keyring([secrets.token_bytes(32)])
    for size in (0, 1, 15, 16, 17, 512, 2048, 65_537):
        plaintext = os.urandom(size)
        sealed = keyring.seal(plaintext, _aad(person_id=seed))

        assert keyring.open(sealed, _aad(person_id=seed)) == plaintext
        assert sealed.key_id == keyring.primary_key_id
        assert len(sealed.nonce) == 12
        assert len(sealed.ciphertext) == size + 16  # GCM tag
        if size >= 16:
            assert plaintext not in sealed.ciphertext


def test_every_seal_uses_a_fresh_nonce() -> None:
    keyring = Keyring([secrets.token_bytes(32)])
    plaintext = os.urandom(512)

    sealed = [keyring.seal(plaintext, _aad()) for _ in range(200)]

    assert len({item.nonce for item in sealed}) == 200
    assert len({item.ciphertext for item in sealed}) == 200


@pytest.mark.parametrize(
    "moved",
    [{"template_id": "b" * 32}, {"person_id": 2}, {"model_id": "arcface"}],
    ids=["other-template", "other-person", "other-model"],
)
def test_ciphertext_moved_to_another_row_fails(moved: dict[str, object]) -> None:
    keyring = Keyring([secrets.token_bytes(32)])
    sealed = keyring.seal(os.urandom(512), _aad())

    with pytest.raises(DecryptionError, match="altered"):
        keyring.open(sealed, _aad(**moved))  # type: ignore[arg-type]


@pytest.mark.parametrize("part", ["ciphertext", "tag", "nonce"])
def test_tampered_bytes_fail(part: str) -> None:
    keyring = Keyring([secrets.token_bytes(32)])
    sealed = keyring.seal(os.urandom(512), _aad())
    ciphertext, nonce = bytearray(sealed.ciphertext), bytearray(sealed.nonce)
    if part == "ciphertext":
        ciphertext[100] ^= 0x01
    elif part == "tag":
        ciphertext[-1] ^= 0x80
    else:
        nonce[0] ^= 0x01
    tampered = dataclasses.replace(sealed, nonce=bytes(nonce), ciphertext=bytes(ciphertext))

    with pytest.raises(DecryptionError):
        keyring.open(tampered, _aad())


def test_unknown_key_id() -> None:
    sealed = Keyring([secrets.token_bytes(32)]).seal(b"vector", _aad())
    other = Keyring([secrets.token_bytes(32)])

    with pytest.raises(UnknownKeyId, match=sealed.key_id):
        other.open(sealed, _aad())


def test_same_key_id_but_wrong_key_bytes_fails_authentication() -> None:
    sealed = Keyring([secrets.token_bytes(32)]).seal(b"vector", _aad())
    other = Keyring([secrets.token_bytes(32)])
    forged = dataclasses.replace(sealed, key_id=other.primary_key_id)

    with pytest.raises(DecryptionError):
        other.open(forged, _aad())


def test_rotated_keyring_decrypts_old_rows_and_encrypts_with_the_new_key() -> None:
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    old_row = Keyring([old_key]).seal(b"old template", _aad())
    rotated = Keyring([new_key, old_key])

    assert rotated.open(old_row, _aad()) == b"old template"
    new_row = rotated.seal(b"new template", _aad())
    assert new_row.key_id == key_id_of(new_key) == rotated.primary_key_id != old_row.key_id
    with pytest.raises(UnknownKeyId):
        Keyring([old_key]).open(new_row, _aad())
    assert Keyring([new_key]).open(new_row, _aad()) == b"new template"


def test_key_id_is_a_stable_fingerprint_that_does_not_contain_the_key() -> None:
    key = secrets.token_bytes(32)

    assert key_id_of(key) == key_id_of(bytes(key)) != key_id_of(secrets.token_bytes(32))
    assert key.hex() not in key_id_of(key) and len(key_id_of(key)) == 16


@pytest.mark.parametrize("keys", [[], [b"short"], [secrets.token_bytes(32), secrets.token_bytes(16)]])
def test_keyring_refuses_missing_or_short_keys(keys: list[bytes]) -> None:
    with pytest.raises(MissingKey):
        Keyring(keys)


def test_load_keyring_creates_a_private_key_file_when_asked(clean_environment: Path) -> None:
    settings = StorageSettings()
    key_file = clean_environment / "master.key"
    assert settings.resolved_key_file == key_file and not key_file.exists()

    first = load_keyring(settings, create_if_missing=True)

    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.primary_key_id == key_id_of(base64.urlsafe_b64decode(key_file.read_text().strip()))
    # Loading again reads the same key, with or without permission to create.
    assert load_keyring(settings).primary_key_id == first.primary_key_id
    assert load_keyring(settings, create_if_missing=True).primary_key_id == first.primary_key_id


def test_load_keyring_refuses_without_a_key(clean_environment: Path) -> None:
    with pytest.raises(MissingKey, match="FACEGATE_MASTER_KEY"):
        load_keyring(StorageSettings())
    assert not (clean_environment / "master.key").exists()


def test_master_key_in_the_environment_wins_over_the_key_file(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_keyring = load_keyring(StorageSettings(), create_if_missing=True)
    env_key = generate_key()
    monkeypatch.setenv("FACEGATE_MASTER_KEY", env_key)

    keyring = load_keyring(StorageSettings(), create_if_missing=True)

    assert keyring.primary_key_id == key_id_of(base64.urlsafe_b64decode(env_key))
    assert keyring.primary_key_id != file_keyring.primary_key_id


def test_key_file_setting_moves_the_key(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = clean_environment.parent / "elsewhere" / "facegate.key"
    monkeypatch.setenv("FACEGATE_KEY_FILE", str(key_file))

    load_keyring(StorageSettings(), create_if_missing=True)

    assert key_file.is_file() and not (clean_environment / "master.key").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "not URL-safe base64"),
        ("é" * 44, "not URL-safe base64"),
        (base64.urlsafe_b64encode(secrets.token_bytes(16)).decode(), "must decode to 32 bytes, got 16"),
        (base64.urlsafe_b64encode(secrets.token_bytes(33)).decode(), "must decode to 32 bytes, got 33"),
        ("", "must decode to 32 bytes, got 0"),
    ],
    ids=["bad-padding", "non-ascii", "short", "long", "empty"],
)
def test_bad_master_key_in_the_environment(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("FACEGATE_MASTER_KEY", value)

    with pytest.raises(MissingKey, match=message) as caught:
        load_keyring(StorageSettings())
    assert "FACEGATE_MASTER_KEY" in str(caught.value)
    assert value not in str(caught.value) or not value  # the secret is not echoed back


def test_bad_key_file_names_the_file(clean_environment: Path) -> None:
    clean_environment.mkdir(parents=True)
    key_file = clean_environment / "master.key"
    key_file.write_text(base64.urlsafe_b64encode(secrets.token_bytes(20)).decode())

    with pytest.raises(MissingKey, match="must decode to 32 bytes, got 20") as caught:
        load_keyring(StorageSettings())
    assert str(key_file) in str(caught.value)
