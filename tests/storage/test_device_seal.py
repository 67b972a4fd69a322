"""Sealing to a device's X25519 key: round trip, and refusal of every other key, context or byte."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from storage import (
    DecryptionError,
    KeyringError,
    generate_device_key_pair,
    load_or_create_device_key_pair,
    open_sealed,
    seal_to_device,
)

PAIR = generate_device_key_pair()


@pytest.mark.parametrize("size", [0, 1, 31, 32, 1000, 65536])
def test_what_is_sealed_to_a_device_opens_with_its_private_key(size: int) -> None:
    plaintext, aad = os.urandom(size), os.urandom(size % 64)
    sealed = seal_to_device(PAIR.public_key, plaintext, aad)
    assert open_sealed(PAIR.private_key, sealed, aad) == plaintext
    assert len(sealed) == 32 + 12 + size + 16
    assert size < 16 or plaintext not in sealed


def test_two_seals_of_one_message_differ_ephemeral_key_and_nonce() -> None:
    first, second = (seal_to_device(PAIR.public_key, b"gallery", b"v1") for _ in range(2))
    assert first != second and first[:32] != second[:32]


def test_another_device_other_context_or_a_flipped_bit_is_refused() -> None:
    sealed = seal_to_device(PAIR.public_key, b"templates of door A", b"device-1|7")
    with pytest.raises(DecryptionError):
        open_sealed(generate_device_key_pair().private_key, sealed, b"device-1|7")
    with pytest.raises(DecryptionError):
        open_sealed(PAIR.private_key, sealed, b"device-1|8")  # an old answer replayed as a newer version
    for index in (0, 40, len(sealed) - 1):  # ephemeral key, nonce, tag
        tampered = bytearray(sealed)
        tampered[index] ^= 1
        with pytest.raises(DecryptionError):
            open_sealed(PAIR.private_key, bytes(tampered), b"device-1|7")
    with pytest.raises(DecryptionError):
        open_sealed(PAIR.private_key, sealed[:20], b"device-1|7")
    with pytest.raises(KeyringError):
        seal_to_device(PAIR.public_key[:31], b"x", b"")


def test_the_device_key_file_is_private_and_reused(tmp_path: Path) -> None:
    directory = tmp_path / "device"
    pair, created = load_or_create_device_key_pair(directory)
    assert created
    assert stat.S_IMODE((directory / "device.key").stat().st_mode) == 0o600
    again, created_again = load_or_create_device_key_pair(directory)
    assert again == pair and not created_again
    os.chmod(directory / "device.key", 0o644)
    with pytest.raises(KeyringError, match="readable by others"):
        load_or_create_device_key_pair(directory)


def test_processes_starting_at_once_agree_on_one_key_pair(tmp_path: Path) -> None:
    directory = tmp_path / "device"
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: load_or_create_device_key_pair(directory), range(8)))
    assert len({pair for pair, _ in results}) == 1 and sum(created for _, created in results) == 1
    assert [p.name for p in directory.iterdir()] == ["device.key"]  # no temporary file left behind
    (directory / "device.key").write_bytes(b"")  # a damaged key file is refused, never replaced
    with pytest.raises(KeyringError, match="32-byte"):
        load_or_create_device_key_pair(directory)
