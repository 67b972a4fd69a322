"""The backup files' format: JSON lines, a header first, an end record last that authenticates the file.

v3 ends each file with an HMAC-SHA256 of every line before it, under a key derived (HKDF, purpose
`backup-mac`) from the master key whose id the header names: whoever lacks the master keys can neither
change a backup unnoticed nor rewrite its header to an older format, since v2 (a plain SHA-256 of the
lines: damage, not forgery) and v1 (no end record) restore only when the caller allows unauthenticated
backups.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any

from storage.errors import BackupError, UnknownKeyId
from storage.protocols import Cipher

FORMAT = "facegate-backup/v3"
_SHA256_FORMAT = "facegate-backup/v2"
UNAUTHENTICATED_FORMATS = (_SHA256_FORMAT, "facegate-backup/v1")
MAC_PURPOSE = "backup-mac"


def encode_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime):
        return {"$dt": (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()}
    if isinstance(value, Enum):
        return value.value
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$b64" in value:
        return base64.b64decode(value["$b64"])
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    return value


class BackupWriter:
    """One backup file's lines, MACed as written, so that its end record vouches for every line before it."""

    def __init__(self, handle: IO[str], cipher: Cipher) -> None:
        self._handle = handle
        self.mac_key_id = cipher.primary_key_id
        self._mac = hmac.new(cipher.derive_subkey(MAC_PURPOSE), digestmod=hashlib.sha256)

    def header(self, kind: str, revision: str | None, **extra: Any) -> None:
        created = datetime.now(UTC).isoformat()
        fields = {"format": FORMAT, "kind": kind, "schema_revision": revision, "created_at": created}
        self.write(json.dumps({**fields, "mac_key_id": self.mac_key_id, **extra}))

    def write(self, text: str) -> None:
        line = text + "\n"
        self._mac.update(line.encode())
        self._handle.write(line)

    def end(self) -> None:
        self._handle.write(json.dumps({"end": {"hmac_sha256": self._mac.hexdigest()}}) + "\n")


def read_header(path: Path, kind: str) -> dict[str, Any]:
    """The header, not yet vouched for by the end record (`verified_header` checks it).

    Raises:
        BackupError: the file is not a FaceGate backup of that kind.
    """
    try:
        with path.open() as handle:
            first_line = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    try:
        header = json.loads(first_line)
    except json.JSONDecodeError:
        header = None
    formats = (FORMAT, *UNAUTHENTICATED_FORMATS)
    if not isinstance(header, dict) or header.get("format") not in formats or header.get("kind") != kind:
        raise BackupError(f"{path} is not a FaceGate {kind} backup ({FORMAT})")
    return header


def verified_header(path: Path, kind: str, *, cipher: Cipher, allow_unauthenticated: bool) -> dict[str, Any]:
    """The header of a backup file whose end record authenticates every line (v3), or of an older one
    when `allow_unauthenticated` (v2's SHA-256 still checked).

    Raises:
        BackupError: not a backup of that kind; cut short or altered; authenticated under a master key
            `cipher` lacks; or an older format not allowed.
    """
    header = read_header(path, kind)
    found = header["format"]
    if found == FORMAT:
        _check_end_record(path, _mac_key(path, header, cipher))
    elif not allow_unauthenticated:
        raise BackupError(
            f"{path} is a {found} backup, which nothing authenticates: anyone who could write it could "
            f"have changed it, or rewritten a newer backup's header to {found}. If you trust where it was "
            "kept, restore it with --allow-unauthenticated; nothing was restored"
        )
    elif found == _SHA256_FORMAT:
        _check_end_record(path, None)
    return header


def _mac_key(path: Path, header: dict[str, Any], cipher: Cipher) -> bytes:
    key_id = header.get("mac_key_id")
    try:
        return cipher.derive_subkey(MAC_PURPOSE, key_id=str(key_id))
    except UnknownKeyId as exc:
        raise BackupError(
            f"{path} is authenticated under master key {key_id}, which this installation does not have: "
            "configure it (FACEGATE_MASTER_KEY or the key file) and restore again; nothing was restored"
        ) from exc


def _check_end_record(path: Path, mac_key: bytes | None) -> None:
    """Raises BackupError unless the last line is the end record and its HMAC (v3, under `mac_key`) or
    SHA-256 (v2, `mac_key` None) matches the lines before.

    A file cut at a line boundary parses line by line: without this, a truncated data backup restored
    part of the database, and a truncated key backup left its last people out as erased.
    """
    digest = hmac.new(mac_key, digestmod=hashlib.sha256) if mac_key else hashlib.sha256()
    last = b""
    with path.open("rb") as handle:
        for line in handle:
            digest.update(last)
            last = line
    try:
        end = json.loads(last)["end"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise BackupError(
            f"{path} does not end with its end record: the file is truncated (an interrupted backup or "
            "copy?); nothing was restored"
        ) from exc
    expected = end.get("hmac_sha256" if mac_key else "sha256") if isinstance(end, dict) else None
    if not isinstance(expected, str) or not hmac.compare_digest(expected, digest.hexdigest()):
        raise BackupError(
            f"{path} was altered after it was written (its {'HMAC' if mac_key else 'SHA-256'} does not "
            "match); nothing was restored"
        )


def read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for every line after the header up to the end record; raises BackupError on a damaged
    line."""
    with path.open() as handle:
        handle.readline()
        for number, line in enumerate(handle, start=2):
            try:
                record = json.loads(line)
                if isinstance(record, dict) and "end" in record:
                    return
                yield record["table"], {k: _decode(v) for k, v in record["row"].items()}
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise BackupError(f"{path}:{number}: damaged line (truncated file?)") from exc
