"""Local append-only journal of audit events: every gate decision is fsync'd here before anything else.

The database can be away (an outage) and the process can die (SIGKILL) without losing an event the
gate acknowledged: `EventJournal.append` returns only after the line is on disk, and
`JournalDeliverer` (gate/delivery.py) forwards entries to the audit log in order. Each entry's uuid
becomes the event's `event_uid`, so a redelivery after a crash between the database commit and the
journal's own bookkeeping is recognised and skipped: exactly once.

Files in the journal directory (0700; files 0600; no biometric data, only what the audit log holds):
    events.jsonl     one JSON object per line: {"uid": ..., "event": AuditEventCreate fields}
    delivered.json   {"last_uid": ...}: the newest entry known to be in the database (atomic replace)
    lock             flock'd by the one process that owns the directory
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from types import TracebackType

from gate.errors import JournalCorrupt, JournalError, JournalLocked
from storage import AuditEventCreate, private_directory

logger = logging.getLogger(__name__)

JOURNAL_FILE = "events.jsonl"
POSITION_FILE = "delivered.json"
LOCK_FILE = "lock"
FILE_MODE = 0o600


@dataclass(frozen=True)
class JournalEntry:
    """One journalled event; `event.event_uid` is `uid` and `event.occurred_at` the decision time."""

    uid: str
    event: AuditEventCreate


def default_journal_dir(home: Path, door: str) -> Path:
    """`<home>/journal/<door>`: one directory per door, its name reduced to safe characters."""
    return home / "journal" / (re.sub(r"[^A-Za-z0-9_.-]", "_", door).lstrip(".") or "_")


def _fsync_dir(path: Path) -> None:
    """Makes a created, renamed or removed directory entry durable (the file's own fsync does not)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _encode(entry: JournalEntry) -> bytes:
    fields = entry.event.model_dump(mode="json", exclude_none=True)
    return (
        json.dumps({"uid": entry.uid, "event": fields}, sort_keys=True, separators=(",", ":")) + "\n"
    ).encode()


def _decode(line: bytes, *, number: int) -> JournalEntry:
    try:
        raw = json.loads(line)
        uid = raw["uid"]
        event = AuditEventCreate.model_validate(raw["event"])
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise JournalCorrupt(f"audit journal line {number} is not an entry: {exc}") from exc
    if not isinstance(uid, str) or event.event_uid != uid or event.occurred_at is None:
        raise JournalCorrupt(f"audit journal line {number}: uid or decision time missing")
    return JournalEntry(uid=uid, event=event)


class EventJournal:
    """The append-only journal of one gate; thread-safe (the camera loop appends, the deliverer reads).

    Opening it takes the directory's lock (JournalLocked if another process holds it), drops a torn
    last line left by a crash mid-write (that append never returned, so nothing acknowledged is lost)
    and loads every entry after the last delivered one as pending, oldest first.

    Raises:
        JournalLocked: another process has the directory open.
        JournalCorrupt: a complete line does not parse.
        JournalError: the directory or a file cannot be created, read or written.
    """

    def __init__(self, directory: Path, *, utc_now: Callable[[], datetime]) -> None:
        self._dir = directory
        self._utc_now = utc_now
        self._lock = threading.Lock()
        try:
            self._lock_fd, self._fd = self._open_files()
            entries = self._read_entries()
            last_uid = self._read_position()
        except OSError as exc:
            raise JournalError(f"cannot open the audit journal in {directory}: {exc}") from exc
        uids = [entry.uid for entry in entries]
        start = uids.index(last_uid) + 1 if last_uid in uids else 0
        self._pending: deque[JournalEntry] = deque(entries[start:])
        if self._pending:
            logger.warning("audit journal %s: %d undelivered events", self.path, len(self._pending))

    @property
    def path(self) -> Path:
        return self._dir / JOURNAL_FILE

    @property
    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def _open_files(self) -> tuple[int, int]:
        is_new_dir = not self._dir.exists()
        private_directory(self._dir)  # 0700, and so is each directory it creates above (journal/)
        lock_fd = os.open(self._dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(lock_fd)
            raise JournalLocked(f"another gate process uses the audit journal in {self._dir}") from exc
        is_new_file = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        if is_new_file:
            os.fsync(fd)
            _fsync_dir(self._dir)
        if is_new_dir:
            _fsync_dir(self._dir.parent)
        return lock_fd, fd

    def _read_entries(self) -> list[JournalEntry]:
        data = self.path.read_bytes()
        complete_bytes = data.rfind(b"\n") + 1
        if complete_bytes < len(data):
            logger.warning(
                "audit journal %s: dropped a torn last line of %d bytes (a crash mid-write)",
                self.path,
                len(data) - complete_bytes,
            )
            os.ftruncate(self._fd, complete_bytes)
            os.fsync(self._fd)
        lines = data[:complete_bytes].splitlines()
        return [_decode(line, number=number) for number, line in enumerate(lines, start=1)]

    def _read_position(self) -> str | None:
        """The last delivered uid; a missing or damaged file means "check everything" (uids dedupe)."""
        try:
            last_uid = json.loads((self._dir / POSITION_FILE).read_bytes())["last_uid"]
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            logger.warning(
                "audit journal %s: unreadable delivery position; rechecking every entry", self._dir
            )
            return None
        return last_uid if isinstance(last_uid, str) else None

    def _write_position(self, last_uid: str) -> None:
        """Atomic replace: a crash leaves either the old or the new position, both fsync'd."""
        temporary = self._dir / (POSITION_FILE + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        try:
            _write_all(fd, json.dumps({"last_uid": last_uid}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self._dir / POSITION_FILE)
        _fsync_dir(self._dir)

    def append(self, event: AuditEventCreate) -> JournalEntry:
        """Journal one event durably (fsync) under its `event_uid` (a grant's unlock id, which the door was
        sent), else a new uid; its decision time is now unless it has one.

        Raises:
            JournalError: the journal cannot be written (disk full, I/O error, closed).
        """
        uid = event.event_uid or str(uuid.uuid4())
        occurred_at = event.occurred_at or self._utc_now()
        entry = JournalEntry(
            uid=uid, event=event.model_copy(update={"event_uid": uid, "occurred_at": occurred_at})
        )
        data = _encode(entry)
        with self._lock:
            try:
                _write_all(self._fd, data)
                os.fsync(self._fd)
            except OSError as exc:
                raise JournalError(f"cannot write the audit journal {self.path}: {exc}") from exc
            self._pending.append(entry)
        return entry

    def pending(self, limit: int) -> list[JournalEntry]:
        """Up to `limit` undelivered entries, oldest first."""
        with self._lock:
            return list(islice(self._pending, limit))

    def mark_delivered(self, entries: Sequence[JournalEntry]) -> None:
        """The oldest pending `entries` are in the database: persist that, and empty the file once all are.

        Raises:
            JournalError: `entries` are not the oldest pending ones, or the position cannot be written.
        """
        if not entries:
            return
        with self._lock:
            head = list(islice(self._pending, len(entries)))
            if len(head) != len(entries) or any(a is not b for a, b in zip(head, entries, strict=True)):
                raise JournalError("delivered entries are not the oldest pending ones")
            try:
                self._write_position(entries[-1].uid)
                for _ in entries:
                    self._pending.popleft()
                if not self._pending:
                    self._compact()
            except OSError as exc:
                raise JournalError(f"cannot update the audit journal in {self._dir}: {exc}") from exc

    def _compact(self) -> None:
        """Everything is delivered: truncate the file (durably), so it holds only what is still pending."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
        logger.debug("audit journal %s: all events delivered; file emptied", self.path)

    def close(self) -> None:
        """Close the file and release the directory; safe to call more than once."""
        with self._lock:
            for fd in (self._fd, self._lock_fd):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._lock_fd = -1

    def __enter__(self) -> EventJournal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
