"""Backup and restore as two portable files: the data, and the keys that unlock it.

Keeping them apart is what makes erasure reach old backups: data backups never hold a data key, so
restoring an old data backup with a key backup taken after an erasure cannot bring the erased person's
templates back (crypto-shredding). The format is JSON lines, the same for SQLite and PostgreSQL, so a
backup also moves an installation from one to the other.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, Table, func, insert, select, text, update
from sqlmodel import SQLModel

from storage.access_models import AccessGroupMember
from storage.backup_format import FORMAT, BackupWriter, VerifiedBackup, encode_value, read_header
from storage.db import connection_scope
from storage.errors import BackupError
from storage.file_modes import (
    fsync_directory,
    locked_directory,
    private_directory,
    private_file,
    remove_stale_temporaries_of,
    temporary_name,
)
from storage.migrate import current_revision
from storage.models import FaceTemplate, GalleryChange, GalleryVersion, Person, PersonKey
from storage.protocols import Cipher
from storage.statement_timeout import allow_long_statements

logger = logging.getLogger(__name__)

_BATCH_ROWS = 500
_BACKUP_NAMES = r"facegate-(?:data|keys)-\d{8}T\d{12}Z\.jsonl"
"""The names `create_backup` gives its files; their temporaries are `file_modes.temporary_name`'s."""


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
    unauthenticated_formats: list[str] = field(default_factory=list)


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def _tables() -> list[Table]:
    return [t for t in SQLModel.metadata.sorted_tables if t.name != PersonKey.__tablename__]


def _private_file(path: Path) -> IO[str]:
    return os.fdopen(private_file(path, os.O_WRONLY | os.O_EXCL), "w")


def _write_table(lines: BackupWriter, connection: Connection, table: Table) -> int:
    count = 0
    for row in connection.execution_options(yield_per=_BATCH_ROWS).execute(select(table)).mappings():
        lines.write(json.dumps({"table": table.name, "row": {k: encode_value(v) for k, v in row.items()}}))
        count += 1
    return count


def create_backup(
    engine: Engine, out_dir: Path, *, master_keys: list[str] | None, cipher: Cipher
) -> BackupFiles:
    """Write `facegate-data-<time>.jsonl` and `facegate-keys-<time>.jsonl` (both 0600) in one snapshot.

    `master_keys` (base64, newest first) go into the key file when they come from a key file; keys
    from the environment or a KMS are not exported and the header says so. Each file ends with an HMAC
    of its lines under a key derived from `cipher`'s primary master key (backup_format). Each file is
    written under a hidden temporary name (0600 from its creation) and fsynced, then both are renamed into
    place and the directory fsynced: a backup the call returned survives a power cut, and a file under a
    backup's name is always complete. The whole write holds the directory's lock (another `backup create`
    into it waits), and first removes the temporaries an interrupted one left (a crash or a kill between
    create and rename): the key backup's holds the master keys when they come from the key file.

    Raises:
        BackupError: a backup file already exists, or the files cannot be written (a full disk, a
            read-only directory); what was written of them is removed.
        DatabaseUnavailable: the database cannot be reached.
    """
    try:
        private_directory(out_dir)
        with locked_directory(out_dir):
            removed = remove_stale_temporaries_of(out_dir, _BACKUP_NAMES)
            if removed:
                logger.warning("removed %d temporaries an interrupted backup left in %s", removed, out_dir)
            return _write_backup(engine, out_dir, master_keys=master_keys, cipher=cipher)
    except OSError as exc:
        raise BackupError(f"cannot write the backup in {out_dir}: {exc}; no backup file was kept") from exc


def _write_backup(
    engine: Engine, out_dir: Path, *, master_keys: list[str] | None, cipher: Cipher
) -> BackupFiles:
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
            writers = [BackupWriter(handle, cipher) for handle in handles]
            _write_snapshot(engine, files, *writers, master_keys=master_keys)
            for handle in handles:
                handle.flush()
                os.fsync(handle.fileno())
        for temporary, path in zip(created[:2], (files.data, files.keys), strict=True):
            os.replace(temporary, path)
            created.append(path)
        fsync_directory(out_dir)
        is_complete = True
    finally:
        if not is_complete:  # a partial pair looked like a backup beside the complete ones
            for path in created:
                path.unlink(missing_ok=True)
    return files


def _write_snapshot(
    engine: Engine,
    files: BackupFiles,
    data_lines: BackupWriter,
    keys_lines: BackupWriter,
    *,
    master_keys: list[str] | None,
) -> None:
    with connection_scope(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        allow_long_statements(connection)  # a table of any size; a lock wait is still bounded
        revision = current_revision(engine)
        data_lines.header("data", revision)
        for table in _tables():
            files.rows[table.name] = _write_table(data_lines, connection, table)
        data_lines.end()
        keys_lines.header("keys", revision, master_keys=master_keys)
        files.rows[PersonKey.__tablename__] = _write_table(keys_lines, connection, _table(PersonKey))
        keys_lines.end()


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


def _opened(
    data: Path, keys: Path, *, cipher: Cipher, allow_unauthenticated: bool
) -> tuple[VerifiedBackup, VerifiedBackup]:
    """Both files, once each is known to be a backup of its kind (a swapped pair refused before a read)."""
    read_header(data, "data")
    read_header(keys, "keys")
    return (
        VerifiedBackup(data, "data", cipher=cipher, allow_unauthenticated=allow_unauthenticated),
        VerifiedBackup(keys, "keys", cipher=cipher, allow_unauthenticated=allow_unauthenticated),
    )


def check_restore_target(engine: Engine, *, data: Path, keys: Path) -> None:
    """What `restore_backup` checks of the target database inside its transaction: it is at the backups'
    schema revision, and empty. From the two files' headers alone, so that a restore bound to be refused
    says so before it reads the backup in full.

    Raises:
        BackupError: a file is not a backup, or the database is at another revision or not empty.
        DatabaseUnavailable: the database cannot be reached.
    """
    headers = [read_header(data, "data"), read_header(keys, "keys")]
    with connection_scope(engine) as connection:
        _check_target(connection, current_revision(engine), *headers)


def restore_backup(
    engine: Engine,
    *,
    data: Path,
    keys: Path,
    cipher: Cipher,
    master_key_ids: Collection[str] | None = None,
    allow_unauthenticated: bool = False,
    before_commit: Callable[[], None] | None = None,
) -> RestoreReport:
    """Load a data backup and a key backup into an empty, migrated database, in one transaction.

    People whose templates are in the data backup but whose data key is not in the key backup were
    erased after the data backup was taken: they and their templates are left out and reported.
    With `master_key_ids` (the master keys the installation will hold), a data key wrapped by any other
    master key refuses the restore before anything is written. Each file's end record must authenticate
    it under a master key of `cipher`; a v2 or v1 backup, which nothing authenticates, is refused unless
    `allow_unauthenticated` (the report names its format then). `before_commit` runs last inside the
    transaction, once every row is in and both files' reads are verified (the CLI adds the master keys to
    the key file there, `KeyFileMerge`); an error it raises rolls the restore back.

    Raises:
        BackupError: a file is not a backup, is cut short or altered, is authenticated under no master
            key of `cipher`, is unauthenticated and not allowed, or is from another schema revision; a
            data key is wrapped by a master key not in `master_key_ids`; or the target database is not
            empty.
        Conflict: a concurrent write took a restored row's unique key (nothing is restored).
        DatabaseUnavailable: the database cannot be reached or aborted the transaction.
    """
    data_file, keys_file = _opened(data, keys, cipher=cipher, allow_unauthenticated=allow_unauthenticated)
    person_keys = {row["person_id"]: row for _, row in keys_file.rows()}  # its one read: verified
    if master_key_ids is not None:
        _check_master_keys(person_keys, master_key_ids)
    template = FaceTemplate.__tablename__
    with_templates = {row["person_id"] for name, row in data_file.rows() if name == template}  # verified
    headers = [data_file.header, keys_file.header]
    report = RestoreReport(erased_people=sorted(with_templates - set(person_keys)))
    report.unauthenticated_formats = sorted({h["format"] for h in headers if h["format"] != FORMAT})
    person_ids = _table(Person).c.id
    with connection_scope(engine) as connection:
        allow_long_statements(connection)  # a table of any size; a lock wait is still bounded
        _check_target(connection, current_revision(engine), *headers)
        # A second read, checked to its end record and against the first before the commit: a file
        # swapped or rewritten since raises here, and the transaction rolls back what it inserted.
        _insert_batches(
            connection, _without_erased(data_file.rows(), set(report.erased_people), report), report
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
                # A gate may hold this version number of the gallery before the restore: a new epoch
                # tells it that this is another gallery (gallery_log.gallery_stamp).
                epoch=secrets.token_hex(16),
            )
        )
        _reset_id_counters(connection)
        if before_commit is not None:
            before_commit()
    return report


def backup_master_keys(path: Path) -> list[str]:
    """The master keys of a key backup (empty when they came from the environment or a KMS), read before
    its end record is checked: they may be the keys that check it (`restore_backup` does, with them)."""
    return list(read_header(path, "keys").get("master_keys") or [])
