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
    """The header, not yet vouched for by the end record (`VerifiedBackup` checks it).

    Raises:
        BackupError: the file is not a FaceGate backup of that kind.
    """
    try:
        with path.open("rb") as handle:
            first_line = handle.readline()
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    return _parse_header(path, first_line, kind)


class VerifiedBackup:
    """A backup file read in passes, each of which verifies the very bytes it parses.

    A pass (`rows`) reads the file once, through one handle, and checks its end record against the lines
    it yielded after the last one; every later pass must also read the same bytes as the first complete
    one (the same digest). Whoever swaps or rewrites the file between two passes, or while one runs, makes
    that pass raise: a caller reads each pass to its end, and writes the rows of a pass inside the
    transaction that the error then rolls back. A verify-then-reopen restore read rows nothing had
    checked (keys2 note).
    """

    def __init__(self, path: Path, kind: str, *, cipher: Cipher, allow_unauthenticated: bool) -> None:
        self.path = path
        self.kind = kind
        self._cipher = cipher
        self._allow_unauthenticated = allow_unauthenticated
        self._digest: str | None = None
        self._header: dict[str, Any] | None = None

    @property
    def header(self) -> dict[str, Any]:
        """The header of the first complete pass (call `rows` to its end first)."""
        if self._header is None:
            raise BackupError(f"{self.path} has not been read to its end record yet")
        return self._header

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(table, row) for every line between the header and the end record, from one read of the file.

        Raises (from the iteration, after the last row at the latest):
            BackupError: not a backup of that kind; cut short, damaged or altered; authenticated under a
                master key the cipher lacks; an older format not allowed; or not the bytes that an
                earlier pass read.
        """
        try:
            with self.path.open("rb") as handle:
                first_line = handle.readline()
                header = _parse_header(self.path, first_line, self.kind)
                digest = self._digest_for(header)
                digest.update(first_line)
                yield from _rows_until_end(self.path, handle, digest, header)
        except OSError as exc:
            raise BackupError(f"cannot read {self.path}: {exc}") from exc
        if self._digest is None:
            self._digest, self._header = digest.hexdigest(), header
        elif not hmac.compare_digest(self._digest, digest.hexdigest()):
            raise BackupError(
                f"{self.path} changed while it was being restored (its bytes are not those verified "
                "before); nothing was restored"
            )

    def verify(self) -> dict[str, Any]:
        """One pass that only checks the file; returns its header."""
        for _ in self.rows():
            pass
        return self.header

    def _digest_for(self, header: dict[str, Any]) -> Any:
        found = header["format"]
        if found == FORMAT:
            return hmac.new(_mac_key(self.path, header, self._cipher), digestmod=hashlib.sha256)
        if not self._allow_unauthenticated:
            raise BackupError(
                f"{self.path} is a {found} backup, which nothing authenticates: anyone who could write it "
                f"could have changed it, or rewritten a newer backup's header to {found}. If you trust "
                "where it was kept, restore it with --allow-unauthenticated; nothing was restored"
            )
        return hashlib.sha256()  # v2's end record; v1 has none, and the digest only compares passes


def _parse_header(path: Path, first_line: bytes, kind: str) -> dict[str, Any]:
    try:
        header = json.loads(first_line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    formats = (FORMAT, *UNAUTHENTICATED_FORMATS)
    if not isinstance(header, dict) or header.get("format") not in formats or header.get("kind") != kind:
        raise BackupError(f"{path} is not a FaceGate {kind} backup ({FORMAT})")
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


def _rows_until_end(
    path: Path, handle: IO[bytes], digest: Any, header: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The rows after the header, each digested before it is yielded; the end record is checked when it
    is reached. A file cut at a line boundary parses line by line: without the end record, a truncated
    data backup restored part of the database, and a truncated key backup left its last people out as
    erased."""
    for number, line in enumerate(handle, start=2):
        try:
            record = json.loads(line)
            if isinstance(record, dict) and "end" in record:
                _check_end_record(path, record["end"], digest, header, is_last=not handle.read(1))
                return
            row = record["table"], {k: _decode(v) for k, v in record["row"].items()}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if not line.endswith(b"\n"):  # cut inside its last line
                raise _truncated(path) from exc
            raise BackupError(f"{path}:{number}: damaged line (truncated file?)") from exc
        digest.update(line)
        yield row
    if header["format"] != UNAUTHENTICATED_FORMATS[-1]:  # v1 has no end record
        raise _truncated(path)


def _truncated(path: Path) -> BackupError:
    return BackupError(
        f"{path} does not end with its end record: the file is truncated (an interrupted backup or "
        "copy?); nothing was restored"
    )


def _check_end_record(path: Path, end: Any, digest: Any, header: dict[str, Any], *, is_last: bool) -> None:
    """Raises BackupError unless the end record is the last line and its HMAC (v3) or SHA-256 (v2)
    matches the lines before."""
    is_mac = header["format"] == FORMAT
    if header["format"] == UNAUTHENTICATED_FORMATS[-1]:
        return
    expected = end.get("hmac_sha256" if is_mac else "sha256") if isinstance(end, dict) else None
    if not is_last or not isinstance(expected, str) or not hmac.compare_digest(expected, digest.hexdigest()):
        raise BackupError(
            f"{path} was altered after it was written (its {'HMAC' if is_mac else 'SHA-256'} does not "
            "match); nothing was restored"
        )
