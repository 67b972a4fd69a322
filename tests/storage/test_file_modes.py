"""The data directory, SQLite database (with -wal and -shm), backups and key directories are owner-only,
whatever the umask; PostgreSQL keeps its files in its own data directory, so only SQLite is tested."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import (
    Keyring,
    StorageSettings,
    create_backup,
    create_person,
    load_keyring,
    load_or_create_device_key_pair,
    make_engine,
    open_database,
    session_scope,
)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask, under which a file is created 0644 and a directory 0755 unless the code says."""
    former = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(former)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_directory_and_sqlite_files_are_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "srv" / "facegate"
    engine = open_database(StorageSettings(home=home))
    try:
        with session_scope(engine) as session:
            create_person(session, name="Alice")
        database = home / "facegate.db"
        companions = [home / "facegate.db-wal", home / "facegate.db-shm"]
        assert all(path.exists() for path in companions)  # the pool's connection holds the WAL open
        assert {path.name: _mode(path) for path in [database, *companions]} == {
            "facegate.db": 0o600,
            "facegate.db-wal": 0o600,
            "facegate.db-shm": 0o600,
        }
        assert _mode(home / "facegate.db.migrate-lock") == 0o600
        assert (_mode(home), _mode(home.parent)) == (0o700, 0o700)
    finally:
        engine.dispose()


def test_a_database_url_outside_the_data_directory_gets_an_owner_only_file(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere.db"
    engine = open_database(StorageSettings(home=tmp_path / "home", database_url=f"sqlite:///{database}"))
    engine.dispose()
    assert _mode(database) == 0o600


def test_an_existing_world_readable_database_loses_others_bits_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An older release's database (made under the umask): others lose access, a sharing group keeps it;
    a file others cannot open is left as it is."""
    home = tmp_path / "home"
    open_database(StorageSettings(home=home)).dispose()
    database = home / "facegate.db"
    wal = home / "facegate.db-wal"
    database.chmod(0o664)
    wal.write_bytes(b"")
    wal.chmod(0o644)
    shm = home / "facegate.db-shm"
    shm.write_bytes(b"")
    shm.chmod(0o640)

    with caplog.at_level(logging.WARNING, logger="storage.file_modes"):
        make_engine(f"sqlite:///{database}").dispose()

    assert (_mode(database), _mode(wal), _mode(shm)) == (0o660, 0o640, 0o640)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{database} was open to every local user (mode 664); it is now 660. FaceGate creates its files "
        "0600: chmod 600 it unless a group shares it on purpose",
        f"{wal} was open to every local user (mode 644); it is now 640. FaceGate creates its files "
        "0600: chmod 600 it unless a group shares it on purpose",
    ]


def test_backup_directory_is_created_owner_only(tmp_path: Path) -> None:
    engine = open_database(StorageSettings(home=tmp_path / "home"))
    try:
        files = create_backup(
            engine, tmp_path / "backups" / "nightly", master_keys=None, cipher=Keyring([os.urandom(32)])
        )
    finally:
        engine.dispose()
    assert (_mode(files.data), _mode(files.keys)) == (0o600, 0o600)
    assert (_mode(tmp_path / "backups"), _mode(tmp_path / "backups" / "nightly")) == (0o700, 0o700)


def test_device_key_directory_and_those_above_it_are_created_owner_only(tmp_path: Path) -> None:
    directory = tmp_path / "home" / "device"
    load_or_create_device_key_pair(directory)
    assert (_mode(tmp_path / "home"), _mode(directory), _mode(directory / "device.key")) == (
        0o700,
        0o700,
        0o600,
    )


def test_a_world_readable_key_file_loses_others_bits_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A key file copied in under the umask (0644): every local user could read the master key."""
    settings = StorageSettings(home=tmp_path / "home")
    load_keyring(settings, create_if_missing=True)
    key_file = settings.resolved_key_file
    key_file.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="storage.file_modes"):
        load_keyring(settings)

    assert _mode(key_file) == 0o640
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{key_file} was open to every local user (mode 644); it is now 640. FaceGate creates its files "
        "0600: chmod 600 it unless a group shares it on purpose"
    ]
