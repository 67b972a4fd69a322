"""AES-256-GCM keyring of master keys: the first key encrypts, every key decrypts (F1, F2).

Master keys only wrap other keys (per-person data keys, see person_keys.py) and derive purpose
keys, so rotating a master key re-wraps a few small rows instead of re-encrypting every template.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.errors import DecryptionError, MissingKey, UnknownKeyId
from storage.file_modes import (
    fsync_directory,
    locked_directory,
    private_directory,
    private_file,
    remove_stale_temporaries,
    temporary_name,
)

KEY_BYTES = 32
NONCE_BYTES = 12

# Returns the current master keys, or None when they have not changed since the last call.
KeyReloader = Callable[[], list[bytes] | None]


@dataclass(frozen=True)
class Sealed:
    """One AES-GCM ciphertext with the id of its key and its 96-bit nonce."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def key_id_of(key: bytes) -> str:
    """Public fingerprint of a key: safe to store, reveals nothing about the key."""
    return hashlib.sha256(b"facegate-key-id:" + key).hexdigest()[:16]


def seal_with(key: bytes, plaintext: bytes, associated_data: bytes) -> Sealed:
    """Encrypt under one key with a fresh random 96-bit nonce (F1)."""
    nonce = os.urandom(NONCE_BYTES)
    return Sealed(
        key_id=key_id_of(key), nonce=nonce, ciphertext=AESGCM(key).encrypt(nonce, plaintext, associated_data)
    )


def seal_all_with(key: bytes, items: Sequence[tuple[bytes, bytes]]) -> list[Sealed]:
    """Encrypt many (plaintext, associated data) pairs under one key, each with a fresh random nonce (F1)."""
    aead, key_id = AESGCM(key), key_id_of(key)
    sealed = []
    for plaintext, associated_data in items:
        nonce = os.urandom(NONCE_BYTES)
        sealed.append(
            Sealed(key_id=key_id, nonce=nonce, ciphertext=aead.encrypt(nonce, plaintext, associated_data))
        )
    return sealed


def open_with(key: bytes, sealed: Sealed, associated_data: bytes) -> bytes:
    """Decrypt and authenticate under one key.

    Raises:
        DecryptionError: wrong key, wrong associated data (a moved row) or tampered bytes.
    """
    try:
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, associated_data)
    except InvalidTag as exc:
        raise DecryptionError("authentication failed: the ciphertext or its row binding was altered") from exc


def open_all_with(key: bytes, items: Sequence[tuple[Sealed, bytes]]) -> list[bytes]:
    """Decrypt and authenticate many (sealed, associated data) pairs under one key, in order.

    Raises:
        DecryptionError: wrong key, wrong associated data (a moved row) or tampered bytes.
    """
    aead = AESGCM(key)
    try:
        return [
            aead.decrypt(sealed.nonce, sealed.ciphertext, associated_data)
            for sealed, associated_data in items
        ]
    except InvalidTag as exc:
        raise DecryptionError("authentication failed: the ciphertext or its row binding was altered") from exc


def pack_sealed(sealed: Sealed) -> bytes:
    """Nonce and ciphertext in one column (the key id is the row's)."""
    return sealed.nonce + sealed.ciphertext


def unpack_sealed(key_id: str, packed: bytes) -> Sealed:
    return Sealed(key_id=key_id, nonce=packed[:NONCE_BYTES], ciphertext=packed[NONCE_BYTES:])


class Keyring:
    """Master keys; the first one encrypts. Implements the Cipher protocol.

    With a `reload` callable the keyring picks up a rotated key file while the process runs: it
    asks before every seal and whenever it meets a key id it does not hold.
    """

    def __init__(self, keys: list[bytes], *, reload: KeyReloader | None = None) -> None:
        self._reload = reload
        self._lock = threading.Lock()
        self._set_keys(keys)

    def _set_keys(self, keys: list[bytes]) -> None:
        if not keys:
            raise MissingKey("the keyring is empty")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise MissingKey(f"a master key must be {KEY_BYTES} bytes, got {len(key)}")
        self._keys = {key_id_of(key): key for key in keys}
        self.primary_key_id = key_id_of(keys[0])

    def refresh(self) -> None:
        """Reload the keys when their source changed (a no-op without a reloader)."""
        if self._reload is None:
            return
        with self._lock:
            keys = self._reload()
            if keys is not None:
                self._set_keys(keys)

    def _key(self, key_id: str) -> bytes:
        if key_id not in self._keys:
            self.refresh()
        key = self._keys.get(key_id)
        if key is None:
            raise UnknownKeyId(f"data was encrypted with key {key_id}, which is not in the keyring")
        return key

    @property
    def key_ids(self) -> list[str]:
        """Every key id held, the primary first."""
        return list(self._keys)

    def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        """Encrypt under the primary key with a fresh random nonce."""
        self.refresh()
        return seal_with(self._keys[self.primary_key_id], plaintext, associated_data)

    def open(self, sealed: Sealed, associated_data: bytes) -> bytes:
        """Decrypt and authenticate.

        Raises:
            UnknownKeyId: the key is not in this keyring.
            DecryptionError: wrong associated data (a moved row) or tampered bytes.
        """
        return open_with(self._key(sealed.key_id), sealed, associated_data)

    def derive_subkey(self, purpose: str, *, key_id: str | None = None) -> bytes:
        """A 32-byte key for one purpose (e.g. the audit-chain HMAC), derived with HKDF-SHA256.

        Derived keys never encrypt templates, so a leaked subkey does not expose the master key.

        Raises:
            UnknownKeyId: `key_id` is not in this keyring (default: the primary key).
        """
        master = self._key(key_id or self.primary_key_id)
        hkdf = HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=f"facegate/{purpose}".encode()
        )
        return hkdf.derive(master)


def generate_key() -> str:
    """A new master key as URL-safe base64 text."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def decode_key(text: str, origin: str) -> bytes:
    """Raises MissingKey naming `origin` when the text is not base64 of 32 bytes."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError) as exc:
        raise MissingKey(f"{origin} is not URL-safe base64") from exc
    if len(key) != KEY_BYTES:
        raise MissingKey(f"{origin} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def decode_key_list(text: str, origin: str, *, separator: str) -> list[bytes]:
    """Several keys, newest (encrypting) first; blank entries and `#` comments are skipped."""
    entries = [e.strip() for e in text.split(separator) if e.strip() and not e.strip().startswith("#")]
    return [
        decode_key(entry, f"{origin} (key {n + 1})" if n else origin)
        for n, entry in enumerate(entries or [""])
    ]


def write_key_file(path: Path, keys: list[str]) -> None:
    """Write keys (base64, newest first), one a line, as `write_key_file_bytes` writes.

    Raises:
        OSError: the key file cannot be written (the old one is left as it was).
    """
    write_key_file_bytes(path, "".join(key + "\n" for key in keys).encode())


def write_key_file_bytes(path: Path, content: bytes) -> None:
    """Write the key file atomically with mode 0600, durably: the file is written under a
    temporary name and fsynced, renamed into place, and the directory fsynced, so a power cut leaves the
    old key file or the new one, never an empty one or a rename lost after `keys rotate` re-wrapped every
    data key under the new key. A failed write removes its temporary, and temporaries an interrupted
    write left (each a copy of the master keys) are removed, under the directory's lock.

    Raises:
        OSError: the key file cannot be written (the old one is left as it was).
    """
    private_directory(path.parent)
    with locked_directory(path.parent):
        remove_stale_temporaries(path)
        temporary = temporary_name(path, secrets.token_hex(4))
        try:
            with os.fdopen(private_file(temporary, os.O_WRONLY | os.O_EXCL), "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_directory(path.parent)


def key_file_reloader(path: Path) -> KeyReloader:
    """A reloader that re-reads the key file whenever its modification time changes.

    The reloader raises MissingKey when the file is gone or unreadable (named by its path, never by a key).
    """
    seen = path.stat().st_mtime_ns

    def reload() -> list[bytes] | None:
        nonlocal seen
        try:
            current = path.stat().st_mtime_ns
            if current == seen:
                return None
            text = path.read_text()
        except OSError as exc:
            raise MissingKey(f"key file {path} cannot be read: {exc.strerror or type(exc).__name__}") from exc
        seen = current
        return decode_key_list(text, f"key file {path}", separator="\n")

    return reload
