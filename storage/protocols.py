"""The one pluggable stage of storage (A6): the master-key cipher that wraps data keys."""

from __future__ import annotations

from typing import Protocol

from storage.cipher import Sealed


class Cipher(Protocol):
    """Master-key operations. `Keyring` implements it locally; a KMS hook may implement it remotely."""

    @property
    def primary_key_id(self) -> str:
        """Id of the key that `seal` uses."""
        ...

    @property
    def key_ids(self) -> list[str]:
        """Every key id available for decryption, the primary first."""
        ...

    def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        """Encrypt under the primary key, binding `associated_data`."""
        ...

    def open(self, sealed: Sealed, associated_data: bytes) -> bytes:
        """Decrypt and authenticate.

        Raises:
            UnknownKeyId: the key that sealed it is not available.
            DecryptionError: the ciphertext or its associated data was altered.
        """
        ...

    def derive_subkey(self, purpose: str, *, key_id: str | None = None) -> bytes:
        """A 32-byte key for one purpose, derived from a master key (default: the primary).

        Raises:
            UnknownKeyId: `key_id` is not available.
        """
        ...
