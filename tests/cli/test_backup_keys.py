"""`facegate backup restore` and the master keys: where the key backup's keys go, per key source."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage import Keyring, StorageSettings, key_id_of, make_engine
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
