"""The key file and backups survive a power cut and a failed write: temporary, fsync, rename, fsync dir.

os.fsync and os.replace are wrapped to record the system calls in order (a process boundary: what the
disk is asked to do), and still run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import (
    Engine,
    Keyring,
    StorageSettings,
    add_key_to_file,
    create_backup,
    create_schema,
    generate_key,
    key_file_keys,
    load_keyring,
    make_engine,
)

_REPOSITORY = Path(__file__).parents[2]


@pytest.fixture
def disk_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """('fsync', path) and ('replace', 'source -> target') in the order the process made them."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def replace(source: str | Path, target: str | Path) -> None:
        calls.append(("replace", f"{Path(source).name} -> {Path(target).name}"))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_a_key_file_write_fsyncs_the_file_then_renames_then_fsyncs_its_directory(
    clean_environment: Path, disk_calls: list[tuple[str, str]]
) -> None:
    """Without the directory's fsync a power cut could lose the rename after `keys rotate` re-wrapped
    every data key under the new key: the old key file back, no key for any template."""
    settings = StorageSettings()
    load_keyring(settings, create_if_missing=True)
    key_file = settings.resolved_key_file
    disk_calls.clear()

    add_key_to_file(settings)

    (_, temporary), (_, renamed), directory = disk_calls
    assert Path(temporary).parent == key_file.parent and Path(temporary).name.startswith(".master.key.")
    assert renamed == f"{Path(temporary).name} -> master.key"
    assert directory == ("fsync", str(key_file.parent))
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["master.key"]


def test_temporaries_an_interrupted_key_write_left_are_removed_by_the_next_write(
    clean_environment: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash between the temporary's creation and its rename left a copy of the master keys (or an
    empty file) beside the key file, and every interrupted write one more."""
    settings = StorageSettings()
    load_keyring(settings, create_if_missing=True)
    key_file = settings.resolved_key_file
    for tag, text in (("0123abcd", generate_key() + "\n"), ("89abcdef", "")):
        (key_file.parent / f".master.key.{tag}.tmp").write_text(text)
    (key_file.parent / ".master.key.notes.tmp").write_text("not ours")

    with caplog.at_level(logging.WARNING, logger="storage.file_modes"):
        add_key_to_file(settings)

    assert sorted(p.name for p in key_file.parent.iterdir()) == [".master.key.notes.tmp", "master.key"]
    assert f"removed 2 temporary copies of {key_file} that an interrupted write left" in caplog.messages
    assert len(load_keyring(settings).key_ids) == 2


_ROTATE_ON_A_FULL_DISK = """
import resource, signal, sys
from api.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG, as with ENOSPC on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (60, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
sys.argv = ["facegate", "keys", "rotate"]
main()
"""


def test_a_key_file_that_cannot_be_written_is_one_error_and_leaves_no_temporary(
    clean_environment: Path,
) -> None:
    """`facegate keys rotate` on a full disk (a 60-byte file size limit in a real process; two keys are
    90 bytes) ended in an OSError traceback and left a 60-byte temporary holding the master keys."""
    settings = StorageSettings()
    load_keyring(settings, create_if_missing=True)
    key_file = settings.resolved_key_file
    before = key_file.read_text()
    environment = {**os.environ, "PYTHONPATH": str(_REPOSITORY)}

    done = subprocess.run(
        [sys.executable, "-c", _ROTATE_ON_A_FULL_DISK],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )

    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: KeyringError: cannot write the key file {key_file}: [Errno 27] File too large; "
        "it was left as it was"
    )
    assert key_file.read_text() == before
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["master.key"]


def test_a_backup_is_fsynced_under_temporary_names_then_renamed_and_its_directory_fsynced(
    engine: Engine, keyring: Keyring, tmp_path: Path, disk_calls: list[tuple[str, str]]
) -> None:
    """A backup was written under its final names and never fsynced: a power cut after `backup create`
    said it was written could leave both files empty or cut short."""
    out = tmp_path / "backup"

    files = create_backup(engine, out, master_keys=None, cipher=keyring)

    fsynced_data, fsynced_keys, renamed_data, renamed_keys, directory = disk_calls
    assert [Path(fsynced_data[1]).parent, Path(fsynced_keys[1]).parent] == [out, out]
    assert renamed_data == ("replace", f"{Path(fsynced_data[1]).name} -> {files.data.name}")
    assert renamed_keys == ("replace", f"{Path(fsynced_keys[1]).name} -> {files.keys.name}")
    assert Path(fsynced_data[1]).name.startswith(f".{files.data.name}.")
    assert directory == ("fsync", str(out))
    assert sorted(out.iterdir()) == sorted([files.data, files.keys])


_BACKUP_CUT_OFF = """
import os, signal, sys
from api.cli import main
real_fsync, fsynced = os.fsync, []
def fsync(descriptor):  # a crash once both temporaries are written and fsynced, before their renames
    real_fsync(descriptor)
    fsynced.append(descriptor)
    if len(fsynced) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
os.fsync = fsync
os.umask(0)  # the temporaries are 0600 from their creation, whatever the umask
sys.argv = ["facegate", "backup", "create", "--out", sys.argv[1]]
main()
"""


def test_temporaries_an_interrupted_backup_left_are_removed_by_the_next_backup(
    clean_environment: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`facegate backup create` killed between writing its temporaries and renaming them left both in the
    backup directory for good, the key backup's holding the master keys from the key file."""
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    engine = make_engine(database_url)
    create_schema(engine)
    settings = StorageSettings()
    cipher = load_keyring(settings, create_if_missing=True)
    master_keys = key_file_keys(settings)
    assert master_keys
    out = tmp_path / "backup"
    environment = {**os.environ, "PYTHONPATH": str(_REPOSITORY)}

    killed = subprocess.run(
        [sys.executable, "-c", _BACKUP_CUT_OFF, str(out)], capture_output=True, env=environment, timeout=120
    )

    assert killed.returncode == -9, killed.stderr
    left = sorted(out.iterdir())
    assert [p.name.startswith((".facegate-data-", ".facegate-keys-")) for p in left] == [True, True]
    assert [oct(p.stat().st_mode & 0o777) for p in left] == ["0o600", "0o600"]
    assert master_keys[0].encode() in left[1].read_bytes()
    not_ours = [out / ".facegate-data-notes.jsonl.0123abcd.tmp", out / "facegate-data-1.jsonl.0123abcd.tmp"]
    for path in not_ours:
        path.write_text("kept")

    with caplog.at_level(logging.WARNING):
        files = create_backup(engine, out, master_keys=master_keys, cipher=cipher)
    engine.dispose()

    assert sorted(out.iterdir()) == sorted([files.data, files.keys, *not_ours])
    assert f"removed 2 temporaries an interrupted backup left in {out}" in caplog.messages
