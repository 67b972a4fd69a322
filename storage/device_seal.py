"""Sealing data to one device's X25519 public key: ephemeral X25519 + HKDF-SHA256 + AES-256-GCM.

The construction is HPKE's base mode in miniature (RFC 9180, DHKEM(X25519, HKDF-SHA256) with
AES-256-GCM), built from `cryptography` primitives: the sender makes a fresh key pair per message,
derives the AES key from the shared secret bound to both public keys, and sends its ephemeral public
key, a random 96-bit nonce and the ciphertext. Only the holder of the device's private key can open
it; the associated data binds a message to its purpose (device, gallery version), so a sealed
snapshot cannot be passed off as another.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from storage.errors import DecryptionError, KeyringError
from storage.file_modes import private_directory

DEVICE_KEY_BYTES = 32
_NONCE_BYTES = 12
_INFO = b"facegate/device-seal/v1"


@dataclass(frozen=True)
class DeviceKeyPair:
    """A device's X25519 key pair as raw 32-byte strings; the private half never leaves the device."""

    private_key: bytes
    public_key: bytes


def generate_device_key_pair() -> DeviceKeyPair:
    """A fresh X25519 key pair."""
    private = X25519PrivateKey.generate()
    return DeviceKeyPair(
        private_key=private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
        public_key=private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )


def _aes_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_public + recipient_public, info=_INFO)
    return hkdf.derive(shared)


def seal_to_device(public_key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt for the holder of `public_key`: ephemeral public key (32 B) ‖ nonce (12 B) ‖ ciphertext.

    Raises:
        KeyringError: `public_key` is not a 32-byte X25519 public key.
    """
    if len(public_key) != DEVICE_KEY_BYTES:
        raise KeyringError(f"a device public key has {DEVICE_KEY_BYTES} bytes, not {len(public_key)}")
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    nonce = os.urandom(_NONCE_BYTES)
    key = _aes_key(shared, ephemeral_public, public_key)
    return ephemeral_public + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(private_key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """Decrypt and authenticate what `seal_to_device` sealed to this key pair.

    Raises:
        DecryptionError: another device's message, other associated data, or tampered bytes.
    """
    if len(sealed) < DEVICE_KEY_BYTES + _NONCE_BYTES + 16:
        raise DecryptionError("sealed message too short")
    private = X25519PrivateKey.from_private_bytes(private_key)
    ephemeral_public = sealed[:DEVICE_KEY_BYTES]
    nonce = sealed[DEVICE_KEY_BYTES : DEVICE_KEY_BYTES + _NONCE_BYTES]
    own_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    key = _aes_key(shared, ephemeral_public, own_public)
    try:
        return AESGCM(key).decrypt(nonce, sealed[DEVICE_KEY_BYTES + _NONCE_BYTES :], associated_data)
    except InvalidTag as exc:
        raise DecryptionError("sealed message does not open with this device key") from exc


def load_or_create_device_key_pair(directory: Path) -> tuple[DeviceKeyPair, bool]:
    """The device's key pair from `directory` (device.key, mode 0600), made there on first use.

    Returns the pair and whether it was just created.

    Raises:
        KeyringError: the key file is readable by others or not a 32-byte key.
    """
    path = directory / "device.key"
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyringError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        private_key = path.read_bytes()
        if len(private_key) != DEVICE_KEY_BYTES:
            raise KeyringError(f"{path} does not hold a {DEVICE_KEY_BYTES}-byte X25519 private key")
        public = X25519PrivateKey.from_private_bytes(private_key).public_key()
        return DeviceKeyPair(private_key, public.public_bytes(Encoding.Raw, PublicFormat.Raw)), False
    private_directory(directory)
    pair = generate_device_key_pair()
    descriptor, name = tempfile.mkstemp(dir=directory, prefix="device.key.", suffix=".tmp")  # mode 0600
    temporary = Path(name)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pair.private_key)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)  # never replaces: of two processes starting at once, one key wins
    except FileExistsError:
        return load_or_create_device_key_pair(directory)
    finally:
        temporary.unlink()
    return pair, True
