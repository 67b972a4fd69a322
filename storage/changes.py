"""Gallery changes through the database itself: PostgreSQL LISTEN/NOTIFY, polling as the fallback.

Every gallery version bump sends `NOTIFY facegate_gallery` in its own transaction (PostgreSQL delivers
it at commit, to every listening connection of the database). A `GalleryChangeFeed` in each API
process holds one LISTEN connection and wakes the requests that wait for a change; on SQLite, in
`poll` mode, or while the LISTEN connection is down, waiters re-read the version every `poll_s`. A
notification only wakes a waiter, which then reads the version, so a lost, duplicate or foreign one
(another schema of the same database) costs one read and is never trusted as data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

import psycopg
from sqlalchemy import Engine

from storage.db import session_scope
from storage.gallery_log import GALLERY_CHANNEL, gallery_stamp
from storage.threads import STOP_WAIT_S, join_or_leave

logger = logging.getLogger(__name__)

FeedMode = Literal["listen", "poll"]
_RECONNECT_MAX_S = 10.0


def _libpq_url(engine: Engine) -> str:
    """The engine's URL for libpq, with the engine's connect timeout and dead-peer bounds (make_engine puts
    them in the URL): a LISTEN connection whose peer is gone ends, and the feed reconnects."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class GalleryChangeFeed:
    """`wait_for_change(known, ...)` returns as soon as the gallery version differs from `known`.

    Each check reads the version in a short transaction of its own. In `listen` mode on PostgreSQL a
    thread keeps a LISTEN connection, reconnecting with backoff; `is_listening` says whether it is up.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        mode: FeedMode,
        poll_s: float,
        stop_wait_s: float = STOP_WAIT_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._stop_wait_s = stop_wait_s
        self._mode = mode
        self._poll_s = poll_s
        self._monotonic = monotonic
        self._changed = threading.Condition()
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.is_listening = False
        self.notification_count = 0

    @property
    def uses_listen(self) -> bool:
        return self._mode == "listen" and self._engine.dialect.name == "postgresql"

    def start(self) -> None:
        """Start the LISTEN thread (listen mode on PostgreSQL only)."""
        if self.uses_listen and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._listen_loop, name="gallery-listen", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the LISTEN thread and wait for it, up to `stop_wait_s` (30 s by default: a database that takes
        a statement and never answers it; a shorter one fits a shorter shutdown grace, e.g. a container's
        10 s); safe to call more than once."""
        self._stop.set()
        thread, self._thread = self._thread, None
        join_or_leave(thread, what="the gallery LISTEN thread", log=logger, wait_s=self._stop_wait_s)

    def wait_for_change(self, known_version: int, *, timeout_s: float, known_epoch: str | None = None) -> int:
        """The gallery version once it differs from `known_version` (or the epoch from `known_epoch`, when
        given: a restore), or after `timeout_s`, whichever first.

        Raises:
            DatabaseUnavailable: the version cannot be read.
        """
        deadline_s = self._monotonic() + timeout_s
        while True:
            with self._changed:
                generation = self._generation
            with session_scope(self._engine) as session:
                version, epoch = gallery_stamp(session)
            is_other_epoch = known_epoch is not None and epoch != known_epoch
            remaining_s = deadline_s - self._monotonic()
            if version != known_version or is_other_epoch or remaining_s <= 0:
                return version
            wait_s = remaining_s if self.is_listening else min(remaining_s, self._poll_s)
            self._wait_past(generation, wait_s)

    def _wait_past(self, generation: int, timeout_s: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._generation != generation, timeout=timeout_s)

    def _wake(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _listen_loop(self) -> None:
        """Hold a LISTEN connection; reconnect with backoff. A lost connection is logged by its loss (with
        the cause) and its return, not by every failed reconnect (DEBUG), and it wakes every waiter, so a
        waiter that was waiting for a NOTIFY re-reads the version every `poll_s` until it is back."""
        backoff_s = self._poll_s
        lost: tuple[float, int] | None = None  # when the connection was lost, and reconnects failed since
        while not self._stop.is_set():
            try:
                with psycopg.connect(_libpq_url(self._engine), autocommit=True) as connection:
                    connection.execute(f"LISTEN {GALLERY_CHANNEL}")
                    self.is_listening, backoff_s = True, self._poll_s
                    self._wake()  # a change between the last read and LISTEN would otherwise wait a timeout
                    self._log_listening(lost)
                    lost = None
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=1.0, stop_after=1):
                            self.notification_count += 1
                            self._wake()
            except psycopg.Error as exc:
                lost = self._log_lost(lost, exc, backoff_s)
            finally:
                self.is_listening = False
                self._wake()  # a waiter waiting for a NOTIFY polls from now on
            self._stop.wait(backoff_s)
            backoff_s = min(2.0 * backoff_s, _RECONNECT_MAX_S)

    def _log_lost(
        self, lost: tuple[float, int] | None, exc: psycopg.Error, backoff_s: float
    ) -> tuple[float, int]:
        if lost is None:
            logger.warning("gallery LISTEN connection lost (%s); polling every %.1f s", exc, self._poll_s)
            return self._monotonic(), 0
        logger.debug("gallery LISTEN reconnect failed (%s); next attempt in %.1f s", exc, backoff_s)
        return lost[0], lost[1] + 1

    def _log_listening(self, lost: tuple[float, int] | None) -> None:
        if lost is None:
            logger.info("listening for gallery changes (PostgreSQL NOTIFY)")
            return
        logger.warning(
            "gallery LISTEN connection back after %.1f s (%d reconnects failed)",
            self._monotonic() - lost[0],
            lost[1],
        )
