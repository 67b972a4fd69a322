"""A backup file swapped or rewritten between the restore's check and its inserts restores nothing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event

from storage import (
    BackupError,
    Engine,
    Keyring,
    create_backup,
    create_person,
    create_schema,
    list_people,
    make_engine,
    restore_backup,
    session_scope,
)
from tests.storage.template_helpers import decrypted, store_people


def _swap(path: Path, content: bytes, how: str) -> None:
    if how == "rewritten":  # in place: the same inode, so even a handle kept open would read it
        with path.open("r+b") as handle:
            handle.write(content)
            handle.truncate()
    else:  # another file renamed over it, as a copy into a shared backup directory does
        staged = path.with_name("staged")
        staged.write_bytes(content)
        os.replace(staged, path)


@pytest.mark.parametrize("how", ["replaced", "rewritten"])
@pytest.mark.parametrize("swapped_for", ["edited", "another backup"])
def test_a_data_backup_swapped_after_its_check_restores_nothing(
    engine: Engine,
    keyring: Keyring,
    tmp_path: Path,
    real_vectors: list[np.ndarray],
    how: str,
    swapped_for: str,
) -> None:
    """The restore checked the file's HMAC, then reopened it inside the transaction to insert its rows:
    whatever was under its name by then was restored (reproduced with the real CLI, keys2 note). Here the
    file is swapped at the restore's first statement, after every check and before any insert. An edited
    file has no valid HMAC; another genuine backup has one, but not the bytes that were checked."""
    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    create_schema(source)
    store_people(source, keyring, real_vectors)
    files = create_backup(source, tmp_path / "backup", master_keys=None, cipher=keyring)
    if swapped_for == "edited":
        content = files.data.read_text().replace('"name": "person 1"', '"name": "Mallory"').encode()
    else:
        with session_scope(source) as session:
            create_person(session, name="Mallory")
        later = create_backup(source, tmp_path / "later", master_keys=None, cipher=keyring)
        content = later.data.read_bytes()
    assert b"Mallory" in content and b"Mallory" not in files.data.read_bytes()
    restorer, swapped = threading.get_ident(), threading.Event()

    def attacker(*_args: object) -> None:
        if threading.get_ident() == restorer and not swapped.is_set():
            swapped.set()
            _swap(files.data, content, how)

    event.listen(engine, "before_cursor_execute", attacker)
    try:
        with pytest.raises(BackupError, match="altered|changed while it was being restored"):
            restore_backup(engine, data=files.data, keys=files.keys, cipher=keyring)
    finally:
        event.remove(engine, "before_cursor_execute", attacker)
    assert swapped.is_set()
    with session_scope(engine) as session:
        assert list_people(session) == ([], 0)
    assert decrypted(engine, keyring) == {}
