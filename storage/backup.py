"""Backup and restore as two portable files: the data, and the keys that unlock it.

Keeping them apart is what makes erasure reach old backups: data backups never hold a data key, so
restoring an old data backup with a key backup taken after an erasure cannot bring the erased person's
templates back (crypto-shredding). The format is JSON lines, the same for SQLite and PostgreSQL, so a
backup also moves an installation from one to the other.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Collection, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, Table, func, insert, select, text, update
from sqlmodel import SQLModel

from storage.access_models import AccessGroupMember
from storage.db import connection_scope
from storage.errors import BackupError
from storage.file_modes import fsync_directory, private_directory, private_file, temporary_name
from storage.migrate import current_revision
from storage.models import FaceTemplate, GalleryChange, GalleryVersion, Person, PersonKey
from storage.statement_timeout import allow_long_statements

FORMAT = "facegate-backup/v2"
"""v2 ends each file with an end record holding the SHA-256 of every line before it."""
_FORMATS = (FORMAT, "facegate-backup/v1")
_BATCH_ROWS = 500


@dataclass(frozen=True)
class BackupFiles:
    data: Path
    keys: Path
    rows: dict[str, int]


@dataclass
class RestoreReport:
    rows: dict[str, int] = field(default_factory=dict)
    erased_people: list[int] = field(default_factory=list)
    templates_not_restored: int = 0


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def _tables() -> list[Table]:
    return [t for t in SQLModel.metadata.sorted_tables if t.name != PersonKey.__tablename__]


def _encode(value: Any) -> Any:
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


def _private_file(path: Path) -> IO[str]:
    private_directory(path.parent)
    return os.fdopen(private_file(path, os.O_WRONLY | os.O_EXCL), "w")


class _Lines:
    """One backup file's lines, hashed as written, so that its end record vouches for every line before it."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle, self._digest = handle, hashlib.sha256()

    def write(self, text: str) -> None:
        line = text + "\n"
        self._digest.update(line.encode())
        self._handle.write(line)

    def end(self) -> None:
        self._handle.write(json.dumps({"end": {"sha256": self._digest.hexdigest()}}) + "\n")


def _write_table(lines: _Lines, connection: Connection, table: Table) -> int:
    count = 0
    for row in connection.execution_options(yield_per=_BATCH_ROWS).execute(select(table)).mappings():
        lines.write(json.dumps({"table": table.name, "row": {k: _encode(v) for k, v in row.items()}}))
        count += 1
    return count


def _header(kind: str, revision: str | None, **extra: Any) -> str:
    created = datetime.now(UTC).isoformat()
    return json.dumps(
        {"format": FORMAT, "kind": kind, "schema_revision": revision, "created_at": created, **extra}
    )


def create_backup(engine: Engine, out_dir: Path, *, master_keys: list[str] | None) -> BackupFiles:
    """Write `facegate-data-<time>.jsonl` and `facegate-keys-<time>.jsonl` (both 0600) in one snapshot.

    `master_keys` (base64, newest first) go into the key file when they come from a key file; keys
    from the environment or a KMS are not exported and the header says so. Each file is written under a
    hidden temporary name and fsynced, then both are renamed into place and the directory fsynced: a
    backup the call returned survives a power cut, and a file under a backup's name is always complete.

    Raises:
        BackupError: a backup file already exists, or the files cannot be written (a full disk, a
            read-only directory); what was written of them is removed.
        DatabaseUnavailable: the database cannot be reached.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    files = BackupFiles(
        out_dir / f"facegate-data-{stamp}.jsonl", out_dir / f"facegate-keys-{stamp}.jsonl", {}
    )
    for path in (files.data, files.keys):
        if path.exists():
            raise BackupError(f"backup file exists: {path}")
    created: list[Path] = []  # temporaries, then the backup files renamed from them
    is_complete = False
    try:
        with ExitStack() as stack:
            handles = []
            for path in (files.data, files.keys):
                temporary = temporary_name(path, secrets.token_hex(4))
                handles.append(stack.enter_context(_private_file(temporary)))
                created.append(temporary)
            _write_snapshot(engine, files, *handles, master_keys=master_keys)
            for handle in handles:
                handle.flush()
                os.fsync(handle.fileno())
        for temporary, path in zip(created[:2], (files.data, files.keys), strict=True):
            os.replace(temporary, path)
            created.append(path)
        fsync_directory(out_dir)
        is_complete = True
    except OSError as exc:
        raise BackupError(f"cannot write the backup in {out_dir}: {exc}; no backup file was kept") from exc
    finally:
        if not is_complete:  # a partial pair looked like a backup beside the complete ones
            for path in created:
                path.unlink(missing_ok=True)
    return files


def _write_snapshot(
    engine: Engine,
    files: BackupFiles,
    data_handle: IO[str],
    keys_handle: IO[str],
    *,
    master_keys: list[str] | None,
) -> None:
    with connection_scope(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        allow_long_statements(connection)  # a table of any size; a lock wait is still bounded
        revision = current_revision(engine)
        data_lines, keys_lines = _Lines(data_handle), _Lines(keys_handle)
        data_lines.write(_header("data", revision))
        for table in _tables():
            files.rows[table.name] = _write_table(data_lines, connection, table)
        data_lines.end()
        keys_lines.write(_header("keys", revision, master_keys=master_keys))
        files.rows[PersonKey.__tablename__] = _write_table(keys_lines, connection, _table(PersonKey))
        keys_lines.end()


def _read_header(path: Path, kind: str) -> dict[str, Any]:
    """Raises BackupError when the file is not a FaceGate backup of that kind."""
    try:
        with path.open() as handle:
            first_line = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    try:
        header = json.loads(first_line)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") not in _FORMATS or header.get("kind") != kind:
        raise BackupError(f"{path} is not a FaceGate {kind} backup ({FORMAT})")
    if header["format"] == FORMAT:
        _check_end_record(path)
    return header


def _check_end_record(path: Path) -> None:
    """Raises BackupError unless the last line is the end record and its SHA-256 matches the lines before.

    A file cut at a line boundary parses line by line: without this, a truncated data backup restored
    part of the database, and a truncated key backup left its last people out as erased.
    """
    digest, last = hashlib.sha256(), b""
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
    if not isinstance(end, dict) or end.get("sha256") != digest.hexdigest():
        raise BackupError(
            f"{path} was altered after it was written (its SHA-256 does not match); nothing was restored"
        )


def _read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
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


def _check_target(connection: Connection, revision: str | None, *headers: dict[str, Any]) -> None:
    for header in headers:
        if header.get("schema_revision") != revision:
            raise BackupError(
                f"the {header.get('kind')} backup is at schema revision {header.get('schema_revision')}, "
                f"this database at {revision}: restore with the FaceGate version that wrote it, then upgrade"
            )
    for table in [*_tables(), _table(PersonKey)]:
        if connection.execute(select(func.count()).select_from(table)).scalar_one():
            raise BackupError(
                f"the target database is not empty (table {table.name}): restore into a new one"
            )


def _insert_batches(
    connection: Connection, rows: Iterator[tuple[str, dict[str, Any]]], report: RestoreReport
) -> None:
    tables = {t.name: t for t in _tables()}
    batch: list[dict[str, Any]] = []
    batch_table = ""
    for name, row in rows:
        if name != batch_table or len(batch) >= _BATCH_ROWS:
            if batch:
                connection.execute(insert(tables[batch_table]), batch)
            batch, batch_table = [], name
        if name not in tables:
            raise BackupError(f"unknown table {name!r} in the data backup")
        batch.append(row)
        report.rows[name] = report.rows.get(name, 0) + 1
    if batch:
        connection.execute(insert(tables[batch_table]), batch)


def _highest_id(connection: Connection, table: Table) -> int | None:
    """The highest id `table` has given out that is still known: its rows', and for people also those the
    gallery change log names (every deletion logs `person_removed`, every template `template_added`, and
    its rows are kept): people erased before the backup, or left out of the restore. A new row must not
    take it.

    The audit log's person ids are left out: an edge gate posts its events with a device key, and a
    device naming person 2147483647 would set the counter to its end (PostgreSQL's int4), so that no
    person could be created again. Since migration 0007 (the change log's start) every id the server
    issued is counted here.
    """
    columns = [table.c.id]
    if table.name == Person.__tablename__:
        columns.append(_table(GalleryChange).c.person_id)
    highest = [connection.execute(select(func.max(column))).scalar_one() for column in columns]
    return max((value for value in highest if value is not None), default=None)


def _reset_id_counters(connection: Connection) -> None:
    """Explicit ids were inserted: move each id counter (PostgreSQL's serial sequences, SQLite's
    AUTOINCREMENT counts) past every id it gave out (`_highest_id`)."""
    for table in SQLModel.metadata.sorted_tables:
        id_column = table.columns.get("id")
        if id_column is None or not id_column.autoincrement or str(id_column.type) != "INTEGER":
            continue
        highest = _highest_id(connection, table)
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :value, :is_called)"),
                {"table": table.name, "value": highest or 1, "is_called": highest is not None},
            )
        elif table.dialect_options["sqlite"]["autoincrement"] and highest is not None:
            named = {"table": table.name, "seq": highest}
            connection.execute(text("DELETE FROM sqlite_sequence WHERE name = :table"), named)
            connection.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :seq)"), named)


def _without_erased(
    rows: Iterator[tuple[str, dict[str, Any]]], erased: set[int], report: RestoreReport
) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, row in rows:
        if name == FaceTemplate.__tablename__ and row["person_id"] in erased:
            report.templates_not_restored += 1
        elif name == AccessGroupMember.__tablename__ and row["person_id"] in erased:
            continue  # the membership went with the person
        elif not (name == Person.__tablename__ and row["id"] in erased):
            yield name, row


def _check_master_keys(person_keys: dict[int, dict[str, Any]], master_key_ids: Collection[str]) -> None:
    """Raises BackupError when a data key is wrapped by a master key the installation will not hold."""
    missing: dict[str, int] = {}
    for row in person_keys.values():
        if row["master_key_id"] not in master_key_ids:
            missing[row["master_key_id"]] = missing.get(row["master_key_id"], 0) + 1
    if missing:
        named = ", ".join(f"{key_id} ({count} data keys)" for key_id, count in sorted(missing.items()))
        raise BackupError(
            "the key backup's data keys are wrapped by master keys this installation does not have: "
            f"{named}; no template would decrypt. Configure those keys (FACEGATE_MASTER_KEY or the key "
            "file) and restore again; nothing was restored"
        )


def check_backup_keys(keys: Path, master_key_ids: Collection[str]) -> None:
    """Raises BackupError unless every data key in the key backup is wrapped by one of `master_key_ids`,
    or when the file is not a complete key backup (what `restore_backup` checks first)."""
    _read_header(keys, "keys")
    _check_master_keys({row["person_id"]: row for _, row in _read_rows(keys)}, master_key_ids)


def restore_backup(
    engine: Engine, *, data: Path, keys: Path, master_key_ids: Collection[str] | None = None
) -> RestoreReport:
    """Load a data backup and a key backup into an empty, migrated database, in one transaction.

    People whose templates are in the data backup but whose data key is not in the key backup were
    erased after the data backup was taken: they and their templates are left out and reported.
    With `master_key_ids` (the master keys the installation will hold), a data key wrapped by any other
    master key refuses the restore before anything is written.

    Raises:
        BackupError: a file is not a backup, is damaged, or is from another schema revision; a data key
            is wrapped by a master key not in `master_key_ids`; or the target database is not empty.
        Conflict: a concurrent write took a restored row's unique key (nothing is restored).
        DatabaseUnavailable: the database cannot be reached or aborted the transaction.
    """
    headers = [_read_header(data, "data"), _read_header(keys, "keys")]
    person_keys = {row["person_id"]: row for _, row in _read_rows(keys)}
    if master_key_ids is not None:
        _check_master_keys(person_keys, master_key_ids)
    with_templates = {
        row["person_id"] for name, row in _read_rows(data) if name == FaceTemplate.__tablename__
    }
    report = RestoreReport(erased_people=sorted(with_templates - set(person_keys)))
    person_ids = _table(Person).c.id
    with connection_scope(engine) as connection:
        allow_long_statements(connection)  # a table of any size; a lock wait is still bounded
        _check_target(connection, current_revision(engine), *headers)
        _insert_batches(
            connection, _without_erased(_read_rows(data), set(report.erased_people), report), report
        )
        restored_people = set(connection.execute(select(person_ids)).scalars())
        restorable = [row for person_id, row in person_keys.items() if person_id in restored_people]
        if restorable:
            connection.execute(insert(_table(PersonKey)), restorable)
        report.rows[PersonKey.__tablename__] = len(restorable)
        connection.execute(
            update(_table(GalleryVersion)).values(
                version=_table(GalleryVersion).c.version + 1,
                changes_since=_table(GalleryVersion).c.version + 1,  # gates reload in full, not by delta
            )
        )
        _reset_id_counters(connection)
    return report


def backup_master_keys(path: Path) -> list[str]:
    """The master keys of a key backup (empty when they came from the environment or a KMS)."""
    return list(_read_header(path, "keys").get("master_keys") or [])
