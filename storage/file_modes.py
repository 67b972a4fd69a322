"""Owner-only modes for the files and directories FaceGate creates, whatever the process umask."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a database; it creates each with the database file's own mode."""


def private_directory(path: Path) -> None:
    """Create `path` and every missing directory above it with mode 0700; an existing one keeps its mode
    (it may be shared, as /srv is: what FaceGate writes in it is owner-only by its own mode).

    Raises:
        OSError: a directory cannot be created.
    """
    missing = []
    level = path
    while not level.is_dir() and level != level.parent:
        missing.append(level)
        level = level.parent
    for level in reversed(missing):
        level.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)  # exist_ok: another process made it meanwhile


def private_file(path: Path, flags: int) -> int:
    """`os.open(path, flags | O_CREAT | O_CLOEXEC)` with a newly created file's mode 0600.

    Raises:
        OSError: the file cannot be opened or created.
    """
    return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)


def private_sqlite_file(database: Path) -> None:
    """Create a missing SQLite database file empty with mode 0600 before SQLite opens it, so that its
    -wal, -shm and -journal files (SQLite gives them the database file's mode) are 0600 too; SQLite would
    create it with the umask's mode, 0644 under the usual 022: readable by every local user.

    An existing database file or companion that others may read, write or enter (an older release's, made
    under the umask) loses those bits, with a warning: nobody but its owner and perhaps a group sharing it
    deliberately has any business with it. Group bits are kept: a group may be how two service accounts
    share the database, and removing them would stop a gate. Errors are left to SQLite's own open, which
    reports them as it always has.
    """
    try:
        os.close(private_file(database, os.O_WRONLY | os.O_EXCL))
    except FileExistsError:
        pass
    except OSError:  # a missing directory, a read-only mount: SQLite's open says so
        return
    for path in (database, *(database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)):
        close_to_others(path)


def close_to_others(path: Path) -> None:
    """Remove others' permission bits from an existing file (group bits are kept), with a warning."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:  # none (the usual case for the companions), or SQLite's open will say why
        return
    if not mode & stat.S_IRWXO:
        return
    try:
        path.chmod(mode & ~stat.S_IRWXO)
    except OSError as exc:  # another user's file: warn, SQLite opens it as before
        logger.warning("%s is open to every local user (mode %o) and cannot be changed: %s", path, mode, exc)
        return
    logger.warning(
        "%s was open to every local user (mode %o); it is now %o. FaceGate creates its files 0600: "
        "chmod 600 it unless a group shares it on purpose",
        path,
        mode,
        mode & ~stat.S_IRWXO,
    )


def fsync_directory(path: Path) -> None:
    """Flush a directory's entries to disk, so that a file created or renamed in it survives a power cut
    (fsync of the file alone makes its bytes durable, not its name).

    Raises:
        OSError: the directory cannot be opened or flushed.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def locked_directory(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a directory (flock), so that one process at a time writes its files.

    Raises:
        OSError: the directory cannot be opened or locked.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def temporary_name(path: Path, tag: str) -> Path:
    """The hidden name a file is written under before it is renamed to `path` (`tag`: 8 hex digits)."""
    return path.with_name(f".{path.name}.{tag}.tmp")


def remove_stale_temporaries(path: Path) -> int:
    """Remove the temporaries of `path` that an interrupted write left (a crash between create and rename);
    call it holding the directory's lock, when no other write of `path` can be under way. Returns how many.
    """
    removed = remove_stale_temporaries_of(path.parent, re.escape(path.name))
    if removed:
        logger.warning("removed %d temporary copies of %s that an interrupted write left", removed, path)
    return removed


def remove_stale_temporaries_of(directory: Path, name_pattern: str) -> int:
    """Remove from `directory` the temporaries (`temporary_name`) of every file whose whole name matches
    the regular expression `name_pattern`; call it holding the directory's lock, when no write of such a
    file can be under way. Returns how many.

    Raises:
        OSError: the directory cannot be listed or a temporary removed.
    """
    pattern = re.compile(rf"\.(?:{name_pattern})\.[0-9a-f]{{8}}\.tmp")
    removed = 0
    for entry in directory.iterdir():
        if pattern.fullmatch(entry.name):
            entry.unlink(missing_ok=True)
            removed += 1
    return removed
