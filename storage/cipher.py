"""AES-256-GCM keyring: the first key encrypts, every key decrypts (F1, F2)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import DecryptionError, MissingKey, UnknownKeyId
from storage.settings import StorageSettings

KEY_BYTES = 32
NONCE_BYTES = 12


@dataclass(frozen=True)
class Sealed:
    """One AES-GCM ciphertext with the id of its key and its 96-bit nonce."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def key_id_of(key: bytes) -> str:
    """Public fingerprint of a key: safe to store, reveals nothing about the key."""
    return hashlib.sha256(b"facegate-key-id:" + key).hexdigest()[:16]


class Keyring:
    """Master keys; the first one encrypts new rows."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise MissingKey("the keyring is empty")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise MissingKey(f"a master key must be {KEY_BYTES} bytes, got {len(key)}")
        self._keys = {key_id_of(key): AESGCM(key) for key in keys}
        self.primary_key_id = key_id_of(keys[0])

    def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        """Encrypt under the primary key with a fresh random nonce."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._keys[self.primary_key_id].encrypt(nonce, plaintext, associated_data)
        return Sealed(key_id=self.primary_key_id, nonce=nonce, ciphertext=ciphertext)

    def open(self, sealed: Sealed, associated_data: bytes) -> bytes:
        """Decrypt and authenticate.

        Raises:
            UnknownKeyId: the key is not in this keyring.
            DecryptionError: wrong associated data (a moved row) or tampered bytes.
        """
        aead = self._keys.get(sealed.key_id)
        if aead is None:
            raise UnknownKeyId(f"data was encrypted with key {sealed.key_id}, which is not in the keyring")
        try:
            return aead.decrypt(sealed.nonce, sealed.ciphertext, associated_data)
        except InvalidTag as exc:
            raise DecryptionError(
                "authentication failed: the ciphertext or its row binding was altered"
            ) from exc


def generate_key() -> str:
    """A new master key as URL-safe base64 text."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError) as exc:
        raise MissingKey(f"{origin} is not URL-safe base64") from exc
    if len(key) != KEY_BYTES:
        raise MissingKey(f"{origin} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate_key() + "\n")


def load_keyring(settings: StorageSettings, *, create_if_missing: bool = False) -> Keyring:
    """Master key from FACEGATE_MASTER_KEY, else the key file (created 0600 when asked).

    Raises:
        MissingKey: no key configured and creation not allowed, or a key that does not decode.
    """
    if settings.master_key is not None:
        return Keyring([_decode_key(settings.master_key.get_secret_value(), "FACEGATE_MASTER_KEY")])
    path = settings.resolved_key_file
    if not path.exists():
        if not create_if_missing:
            raise MissingKey(
                f"no master key: set FACEGATE_MASTER_KEY or run `facegate init` to create {path}"
            )
        _create_key_file(path)
    return Keyring([_decode_key(path.read_text(), f"key file {path}")])
