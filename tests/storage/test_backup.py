"""Backup and restore: a full round trip (also SQLite → PostgreSQL), crypto-shredding, and refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event

from storage import (
    MAX_DB_INT,
    BackupError,
    BackupFiles,
    Conflict,
    Engine,
    EventFilter,
    Keyring,
    Role,
    append_event,
    authenticate,
    create_api_key,
    create_backup,
    create_person,
    create_schema,
    delete_person,
    ensure_door,
    erase_person,
    list_people,
    make_engine,
    query_events,
    restore_backup,
    session_scope,
)
from tests.plaintext import template_leaks
from tests.storage.audit_helpers import append, audited_by, post_as_device, verify
from tests.storage.audit_helpers import event as audit_event
from tests.storage.template_helpers import decrypted, store_people


@pytest.fixture
def source(tmp_path: Path, keyring: Keyring, real_vectors: list[np.ndarray]) -> tuple[Engine, list[int], str]:
    """A SQLite installation with three enrolled people, ten chained events, a door and an API key."""
    engine = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    create_schema(engine)
    person_ids = store_people(engine, keyring, real_vectors)
    append(engine, keyring, range(1, 11))
    with session_scope(engine) as session:
        ensure_door(session, name="front")
        token, _ = create_api_key(session, role=Role.auditor, label="auditor", now=datetime.now(UTC))
    return engine, person_ids, token


def _backup(engine: Engine, out: Path, keyring: Keyring) -> BackupFiles:
    return create_backup(engine, out, master_keys=None, cipher=keyring)


def test_round_trip_restores_everything_into_an_empty_database(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    source_engine, person_ids, token = source
    files = _backup(source_engine, tmp_path / "backup", keyring)

    report = restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)

    assert report.erased_people == [] and report.templates_not_restored == 0
    assert report.rows["person"] == 3 and report.rows["person_key"] == 3 and report.rows["audit_event"] == 10
    assert decrypted(engine, keyring) == decrypted(source_engine, keyring)
    chain = verify(engine, keyring)
    assert chain.reason is None and chain.events_checked == 10
    append(engine, keyring, range(11, 13))  # the restored chain head accepts new events
    assert verify(engine, keyring).events_checked == 12
    with session_scope(engine) as session:
        key = authenticate(session, token, now=datetime.now(UTC)).key
        assert key is not None and key.role == Role.auditor
        # Past the restored people only: the events name people up to 10 whom no one created
        # (audit_helpers.event), and the audit log is what gates post, not what the server issued.
        assert create_person(session, name="after restore").id == max(person_ids) + 1


def test_backup_files_are_private_and_hold_no_plaintext_template(
    source: tuple[Engine, list[int], str], keyring: Keyring, tmp_path: Path, real_vectors: list[np.ndarray]
) -> None:
    files = _backup(source[0], tmp_path / "backup", keyring)

    for path in (files.data, files.keys):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"wrapped_key" not in files.data.read_bytes()
    assert template_leaks(files.data.read_bytes() + files.keys.read_bytes(), real_vectors) == []


def test_an_old_data_backup_cannot_bring_back_a_person_erased_since(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    """Crypto-shredding reaches backups: the data backup predates the erasure, the key backup does not.
    The newest person is left out, and their id is no new person's (the gallery change log names it)."""
    source_engine, (*kept, erased), _ = source
    before = _backup(source_engine, tmp_path / "before", keyring)
    with session_scope(source_engine) as session:
        delete_person(session, erased, erased_by=audited_by(keyring))
    after = _backup(source_engine, tmp_path / "after", keyring)

    report = restore_backup(engine, data=before.data, keys=after.keys, cipher=keyring)

    assert report.erased_people == [erased] and report.templates_not_restored == 1
    assert set(decrypted(engine, keyring)) == set(kept)
    with session_scope(engine) as session:
        assert create_person(session, name="after restore").id == erased + 1


def test_a_person_created_after_a_restore_takes_no_id_that_the_audit_log_names(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    """A person erased before the backup is named by its audit log and the gallery change log only (the
    server's `person_removed`): their id is no new person's."""
    source_engine, _, _ = source
    with session_scope(source_engine) as session:
        erased = create_person(session, name="erased").id
        assert erased is not None
        append_event(session, keyring, audit_event(11).model_copy(update={"person_id": erased}))
    with session_scope(source_engine) as session:
        erase_person(session, erased, erased_by=audited_by(keyring))
    files = _backup(source_engine, tmp_path / "backup", keyring)
    restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)

    with session_scope(engine) as session:
        created = create_person(session, name="after restore").id
        assert created is not None and created != erased
        assert query_events(session, where=EventFilter(person_id=created), limit=10)[1] == 0


def test_a_person_id_that_a_device_posted_moves_no_id_counter_in_a_restore(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    """A device key may post events naming any person id up to 2**31 - 1: a compromised gate naming the
    largest left PostgreSQL's person sequence at its end after a restore, so no person could be created
    (SQLite's count jumped there), while the erased person's id stays taken."""
    source_engine, person_ids, _ = source
    with session_scope(source_engine) as session:
        erased = create_person(session, name="erased").id
        assert erased is not None
    with session_scope(source_engine) as session:
        erase_person(session, erased, erased_by=audited_by(keyring))
    post_as_device(source_engine, keyring, person_id=MAX_DB_INT)
    files = _backup(source_engine, tmp_path / "backup", keyring)
    restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)

    with session_scope(engine) as session:
        assert create_person(session, name="after restore").id == erased + 1
        assert create_person(session, name="and one more").id == erased + 2


def test_restore_refuses_a_database_that_is_not_empty(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    files = _backup(source[0], tmp_path / "backup", keyring)
    with session_scope(engine) as session:
        create_person(session, name="already here")

    with pytest.raises(BackupError, match="not empty"):
        restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)


def test_a_truncated_backup_restores_nothing(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    files = _backup(source[0], tmp_path / "backup", keyring)
    content = files.data.read_bytes()
    files.data.write_bytes(content[: len(content) * 2 // 3])

    with pytest.raises(BackupError, match="truncated"):
        restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)
    assert decrypted(engine, keyring) == {}
    with session_scope(engine) as session:
        assert create_person(session, name="first").id == 1


@pytest.mark.parametrize(
    ("damaged", "damage", "message"),
    [
        ("data", "cut", "truncated"),  # the last people and templates were missing from the restore
        ("keys", "cut", "truncated"),  # the last person was left out as erased since the data backup
        ("data", "edited", "altered"),
    ],
)
def test_a_backup_cut_at_a_line_or_edited_restores_nothing(
    source: tuple[Engine, list[int], str],
    engine: Engine,
    keyring: Keyring,
    tmp_path: Path,
    damaged: str,
    damage: str,
    message: str,
) -> None:
    files = _backup(source[0], tmp_path / "backup", keyring)
    path = files.data if damaged == "data" else files.keys
    lines = path.read_text().splitlines(keepends=True)
    if damage == "cut":  # as an interrupted copy leaves it: whole lines, the last ones missing
        path.write_text("".join(lines[:-2]))
    else:  # a name changed by hand: the line still parses
        edited = path.read_text().replace('"name": "person 1"', '"name": "person X"')
        assert edited != path.read_text()
        path.write_text(edited)

    with pytest.raises(BackupError, match=message):
        restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)
    assert decrypted(engine, keyring) == {}
    with session_scope(engine) as session:
        assert list_people(session) == ([], 0)


def test_data_keys_under_a_master_key_the_installation_lacks_restore_nothing(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    """Restored beside another master key (FACEGATE_MASTER_KEY set on the new machine), no template
    would decrypt: the restore is refused, naming the key."""
    files = _backup(source[0], tmp_path / "backup", keyring)

    with pytest.raises(
        BackupError, match=re.escape(f"does not have: {keyring.primary_key_id} (3 data keys)")
    ):
        restore_backup(
            engine, data=files.data, keys=files.keys, cipher=keyring, master_key_ids={"0123456789abcdef"}
        )
    with session_scope(engine) as session:
        assert list_people(session) == ([], 0)
    restore_backup(
        engine, data=files.data, keys=files.keys, cipher=keyring, master_key_ids=set(keyring.key_ids)
    )
    assert decrypted(engine, keyring) == decrypted(source[0], keyring)


def test_files_swapped_or_foreign_are_refused(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    files = _backup(source[0], tmp_path / "backup", keyring)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a backup\n")

    with pytest.raises(BackupError, match="not a FaceGate data backup"):
        restore_backup(engine, data=files.keys, keys=files.data, cipher=keyring)
    with pytest.raises(BackupError, match="not a FaceGate keys backup"):
        restore_backup(engine, data=files.data, keys=foreign, cipher=keyring)


def test_a_door_created_while_restoring_is_a_conflict_and_nothing_is_restored(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    """A gate registers its door between the emptiness check and the restore's inserts."""
    files = _backup(source[0], tmp_path / "backup", keyring)
    restorer, started = threading.get_ident(), threading.Event()

    def gate_starts(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.get_ident() == restorer and statement.startswith("INSERT INTO") and not started.is_set():
            started.set()
            with session_scope(engine) as session:  # another connection, committed at once
                ensure_door(session, name="front")

    event.listen(engine, "before_cursor_execute", gate_starts)
    try:
        with pytest.raises(Conflict, match="^another door has the same id$"):
            restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)
    finally:
        event.remove(engine, "before_cursor_execute", gate_starts)
    with session_scope(engine) as session:
        assert list_people(session) == ([], 0)


_BACKUP_ON_A_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from storage import BackupError, Keyring, create_backup, make_engine
engine = make_engine(sys.argv[1])
engine.connect().close()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG, as with ENOSPC on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    create_backup(engine, Path(sys.argv[2]), master_keys=None, cipher=Keyring([bytes(32)]))
except BackupError as exc:
    print(exc)
"""


def test_a_backup_that_cannot_be_written_leaves_no_file(
    source: tuple[Engine, list[int], str], tmp_path: Path
) -> None:
    """The disk fills up mid-backup (a file size limit in a real process): one error, and no partial pair
    left beside complete backups under a backup's names."""
    out = tmp_path / "backup"
    arguments = [str(source[0].url), str(out)]
    result = subprocess.run(
        [sys.executable, "-c", _BACKUP_ON_A_FULL_DISK, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.stdout.strip() == (
        f"cannot write the backup in {out}: [Errno 27] File too large; no backup file was kept"
    ), result.stderr
    assert list(out.iterdir()) == []


def _forge(path: Path, *, header_format: str | None = None, mac_key: bytes | None = None) -> None:
    """Change the name of person 1 as whoever can write the file but holds no master key would: the end
    record recomputed as a SHA-256 (v2), or as an HMAC under `mac_key`; `header_format` rewrites the
    header's format (a v3 backup passed off as an older one)."""
    lines = path.read_text().splitlines(keepends=True)[:-1]
    edited = [line.replace('"name": "person 1"', '"name": "person X"') for line in lines]
    assert edited != lines
    if header_format is not None:
        header = json.loads(edited[0])
        edited[0] = json.dumps({**header, "format": header_format}) + "\n"
    body = "".join(edited).encode()
    if mac_key is None:
        end = {"sha256": hashlib.sha256(body).hexdigest()}
    else:
        end = {"hmac_sha256": hmac.new(mac_key, body, hashlib.sha256).hexdigest()}
    path.write_text("".join(edited) + json.dumps({"end": end}) + "\n")


@pytest.mark.parametrize(
    ("forgery", "message"),
    [
        # A v2 end record (SHA-256) recomputed after the edit, under the v3 header.
        ({}, "was altered after it was written (its HMAC does not match)"),
        # The header rewritten to an older format, which nothing authenticated: restored before.
        (
            {"header_format": "facegate-backup/v2"},
            "is a facegate-backup/v2 backup, which nothing authenticates",
        ),
        (
            {"header_format": "facegate-backup/v1"},
            "is a facegate-backup/v1 backup, which nothing authenticates",
        ),
        # An HMAC under a key derived from a master key the installation does not have.
        ({"mac_key": Keyring([bytes(32)]).derive_subkey("backup-mac")}, "was altered after it was written"),
    ],
)
def test_a_backup_edited_without_the_master_key_restores_nothing(
    source: tuple[Engine, list[int], str],
    engine: Engine,
    keyring: Keyring,
    tmp_path: Path,
    forgery: dict[str, Any],
    message: str,
) -> None:
    """The SHA-256 end record caught damage, not an edit: whoever could write a backup recomputed it (or
    rewrote the header to v1, which was not checked at all) and the edit was restored."""
    files = _backup(source[0], tmp_path / "backup", keyring)
    _forge(files.data, **forgery)

    with pytest.raises(BackupError, match=re.escape(message)):
        restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)
    with session_scope(engine) as session:
        assert list_people(session) == ([], 0)


def test_a_backup_authenticated_under_a_master_key_the_installation_lacks_is_refused_naming_it(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    files = _backup(source[0], tmp_path / "backup", keyring)
    stranger = Keyring([bytes(range(32))])

    with pytest.raises(
        BackupError,
        match=re.escape(
            f"is authenticated under master key {keyring.primary_key_id}, which this installation does not "
            "have: configure it (FACEGATE_MASTER_KEY or the key file) and restore again; nothing was restored"
        ),
    ):
        restore_backup(engine, data=files.data, keys=files.keys, cipher=stranger)


def _as_v2(path: Path) -> None:
    """The file as the release before authentication wrote it: a v2 header, a SHA-256 end record."""
    lines = path.read_text().splitlines(keepends=True)[:-1]
    header = {k: v for k, v in json.loads(lines[0]).items() if k != "mac_key_id"}
    lines[0] = json.dumps({**header, "format": "facegate-backup/v2"}) + "\n"
    end = {"sha256": hashlib.sha256("".join(lines).encode()).hexdigest()}
    path.write_text("".join(lines) + json.dumps({"end": end}) + "\n")


def test_a_v2_backup_restores_only_when_unauthenticated_backups_are_allowed_and_still_checked(
    source: tuple[Engine, list[int], str], engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    files = _backup(source[0], tmp_path / "backup", keyring)
    for path in (files.data, files.keys):
        _as_v2(path)
    whole = files.data.read_text()
    files.data.write_text("".join(whole.splitlines(keepends=True)[:-2]))

    with pytest.raises(BackupError, match="truncated"):  # the SHA-256 is still checked
        restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring, allow_unauthenticated=True)
    files.data.write_text(whole)
    with pytest.raises(BackupError, match=re.escape("restore it with --allow-unauthenticated")):
        restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)
    report = restore_backup(
        engine, data=files.data, keys=files.keys, cipher=keyring, allow_unauthenticated=True
    )

    assert report.unauthenticated_formats == ["facegate-backup/v2"]
    assert decrypted(engine, keyring) == decrypted(source[0], keyring)
