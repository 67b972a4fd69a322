"""`facegate backup restore` and the master keys: where the key backup's keys go, per key source."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine as AnyEngine
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from api.cli import app
from storage import Keyring, StorageSettings, generate_key, key_id_of, make_engine
from tests.storage.audit_helpers import append

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def backup_pair(clean_environment: Path, tmp_path: Path, group_faces: list[bytes]) -> tuple[Path, Path]:
    """A SQLite installation's backup: Alice enrolled, 3 audit events chained under the first master key,
    then `keys rotate` (the key file holds the new key and the old one, decrypt-only)."""
    assert _invoke("init")[0] == 0
    photo = tmp_path / "alice.jpg"
    photo.write_bytes(group_faces[0])
    assert _invoke("enroll", "Alice", str(photo))[0] == 0
    settings = StorageSettings()
    first_key = base64.urlsafe_b64decode(settings.resolved_key_file.read_text().strip())
    append(make_engine(settings.resolved_database_url), Keyring([first_key]), range(1, 4))
    assert _invoke("keys", "rotate")[0] == 0
    code, output = _invoke("backup", "create", "--out", str(tmp_path / "backups"))
    assert code == 0, output
    (data,) = (tmp_path / "backups").glob("facegate-data-*")
    (keys,) = (tmp_path / "backups").glob("facegate-keys-*")
    return data, keys


def test_a_restore_with_the_master_key_in_the_environment_writes_no_key_file(
    backup_pair: tuple[Path, Path],
    clean_environment: Path,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FACEGATE_MASTER_KEY overrides the key file: a restore wrote the backed-up keys into one anyway
    ('2 master keys added to .../master.key'), a plain-text copy of the master keys no process read, which
    became the keyring the day the variable was unset."""
    new_key, old_key = (clean_environment / "master.key").read_text().split()
    data, keys = backup_pair
    new_machine = tmp_path / "new-machine"
    monkeypatch.setenv("FACEGATE_HOME", str(new_machine))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("FACEGATE_MASTER_KEY", new_key)

    code, output = _invoke("backup", "restore", "--data", str(data), "--keys", str(keys))

    assert code == 0, output
    assert not (new_machine / "master.key").exists()
    assert "master keys added" not in output
    old_id = key_id_of(base64.urlsafe_b64decode(old_key))
    assert (
        "the master keys come from FACEGATE_MASTER_KEY or a KMS: the key backup's 2 master keys were not "
        "written to a key file (no process would read it)" in output
    )
    assert f"master keys {old_id} of the key backup are not configured here" in output
    assert "Alice" in _invoke("people", "list")[1]
    code, output = _invoke("audit", "verify")  # what the line says: the old key chained the events
    assert code == 1 and old_id in output, output
    monkeypatch.setenv("FACEGATE_MASTER_KEY", f"{new_key},{old_key}")
    assert _invoke("audit", "verify")[0] == 0


def _forge_as_v2(path: Path) -> None:
    """Person 1 renamed by whoever can write the backup but holds no master key: the header rewritten to
    v2 and its SHA-256 end record recomputed."""
    lines = path.read_text().splitlines(keepends=True)[:-1]
    edited = [line.replace('"name": "Alice"', '"name": "Mallory"') for line in lines]
    assert edited != lines
    edited[0] = json.dumps({**json.loads(edited[0]), "format": "facegate-backup/v2"}) + "\n"
    end = {"sha256": hashlib.sha256("".join(edited).encode()).hexdigest()}
    path.write_text("".join(edited) + json.dumps({"end": end}) + "\n")


def test_a_backup_edited_and_passed_off_as_v2_restores_only_when_asked_for(
    backup_pair: tuple[Path, Path],
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A v2 backup's SHA-256 was recomputable by anyone, and a v1 header skipped the check: an edited
    backup restored with exit 0."""
    data, keys = backup_pair
    _forge_as_v2(data)
    new_machine = tmp_path / "new-machine"
    monkeypatch.setenv("FACEGATE_HOME", str(new_machine))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)

    code, output = _invoke("backup", "restore", "--data", str(data), "--keys", str(keys))

    assert code == 1, output
    assert "is a facegate-backup/v2 backup, which nothing authenticates" in output
    assert not (new_machine / "master.key").exists()  # refused before the keys are written
    code, output = _invoke(
        "backup", "restore", "--data", str(data), "--keys", str(keys), "--allow-unauthenticated"
    )
    assert code == 0, output
    assert "restored without authentication (facegate-backup/v2, --allow-unauthenticated)" in output
    assert "Mallory" in _invoke("people", "list")[1]


def test_a_restore_refused_as_the_database_is_not_empty_leaves_the_key_file_alone(
    backup_pair: tuple[Path, Path],
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`facegate init` on the new machine first (its admin key makes the database not empty): the restore
    was refused, but only after it had added the backup's 2 master keys, another installation's, to this
    installation's key file."""
    data, keys = backup_pair
    new_machine = tmp_path / "new-machine"
    monkeypatch.setenv("FACEGATE_HOME", str(new_machine))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    assert _invoke("init")[0] == 0
    key_file = (new_machine / "master.key").read_text()

    code, output = _invoke("backup", "restore", "--data", str(data), "--keys", str(keys))

    assert code == 1 and "the target database is not empty (table api_key)" in output, output
    assert (new_machine / "master.key").read_text() == key_file


@pytest.mark.parametrize("key_file", ["absent", "another key"])
@pytest.mark.parametrize("failure", ["insert", "commit"])
def test_a_restore_that_fails_after_its_checks_leaves_the_key_file_as_it_was(
    backup_pair: tuple[Path, Path],
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    key_file: str,
    failure: str,
) -> None:
    """The key backup's master keys went into the key file after the checks but before the restore, so a
    restore that failed later (a data backup swapped after its check, the database failing during the
    restore or at its commit) exited 1 with nothing restored and the key file holding the backup's 2
    master keys (reproduced with the real CLI on SQLite and PostgreSQL). They are now written last in the
    restore's transaction and put back, byte for byte, if the commit fails. Here the database fails at
    the restore's last insert (its data keys), or at its commit."""
    data, keys = backup_pair
    new_machine = tmp_path / "new-machine"
    monkeypatch.setenv("FACEGATE_HOME", str(new_machine))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    key_path = new_machine / "master.key"
    if key_file == "another key":
        new_machine.mkdir(mode=0o700)
        key_path.write_bytes(f"# this machine's key\n{generate_key()}".encode())  # no final newline
        key_path.chmod(0o600)
    before = key_path.read_bytes() if key_path.exists() else None
    restoring, failed = threading.Event(), threading.Event()

    def fail_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO person_key"):  # only the restore writes data keys here
            restoring.set()
            if failure == "insert":
                failed.set()
                raise OperationalError(statement, None, OSError("could not write to file: No space left"))

    def fail_commit(_conn: Any) -> None:
        if restoring.is_set() and failure == "commit" and not failed.is_set():
            failed.set()
            raise OperationalError("COMMIT", None, OSError("disk I/O error"))

    event.listen(AnyEngine, "before_cursor_execute", fail_insert)
    event.listen(AnyEngine, "commit", fail_commit)
    try:
        code, output = _invoke("backup", "restore", "--data", str(data), "--keys", str(keys))
    finally:
        event.remove(AnyEngine, "before_cursor_execute", fail_insert)
        event.remove(AnyEngine, "commit", fail_commit)

    assert failed.is_set()
    assert code == 1 and "DatabaseUnavailable" in output, output
    assert (key_path.read_bytes() if key_path.exists() else None) == before
    code, output = _invoke("backup", "restore", "--data", str(data), "--keys", str(keys))
    assert code == 0 and "2 master keys added" in output, output
    assert "Alice" in _invoke("people", "list")[1]
    if before is not None:
        assert key_path.read_bytes().startswith(before + b"\n")


def test_a_restore_reads_the_data_backup_twice(
    backup_pair: tuple[Path, Path], tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI read the data backup in full three times (check_backup's verify, then restore_backup's
    verify-and-list and its insert pass; each parses every line and recomputes the HMAC: 0.1 CPU-s per
    pass at 2,000 templates). restore_backup's two passes check all that check_backup did, before its
    transaction, and the key file is written only at its end, so the first is gone: the file is now
    opened for two headers (check_restore_target's and restore_backup's) and two full passes."""
    data, keys = backup_pair
    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path / "new-machine"))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    opens: list[str] = []
    counting = threading.Event()

    def count_opens(name: str, args: tuple[Any, ...]) -> None:
        if counting.is_set() and name == "open" and isinstance(args[0], str | Path):
            if Path(args[0]) == data:
                opens.append(str(args[1]))

    sys.addaudithook(count_opens)  # for the rest of the process: inert once `counting` is cleared
    counting.set()
    try:
        code, output = _invoke("backup", "restore", "--data", str(data), "--keys", str(keys))
    finally:
        counting.clear()

    assert code == 0, output
    assert len(opens) == 4, opens
