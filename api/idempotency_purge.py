"""The API server's periodic purge of expired idempotency answers, also when no keyed request comes.

A keyed request purges expired answers on its way (storage's find_idempotent_response), but only when one
comes: on a server whose keyed requests stopped (a one-off bulk import by a script) the stored answers,
which can hold a person's name, stayed in the database past their retention for good. `facegate serve`
runs an IdempotencyPurger: a pass at start, then one every `purge_interval_s(retention)` (the retention,
at most an hour), so an answer is gone at most that long after it expired. A pass deletes PURGE_BATCH_ROWS
answers per transaction until none are left. A failed pass (the database is down) is logged once per
outage and tried again at the next pass; the server keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from storage import Engine, StorageError, join_or_leave, purge_idempotent_responses, session_scope

logger = logging.getLogger(__name__)

PURGE_INTERVAL_MAX_S = 3600.0
"""Longest wait between two passes: an answer outlives its retention by at most this (or the retention)."""


def purge_interval_s(retention_s: int) -> float:
    """Seconds between two passes for answers kept `retention_s`: the retention, at most an hour."""
    return min(float(retention_s), PURGE_INTERVAL_MAX_S)


class IdempotencyPurger:
    """Deletes the answers recorded more than `retention_s` ago: a pass at once, then one after each wait,
    in a thread of its own (`start`, `stop`) or in the caller (`run`).

    Args:
        engine: the database.
        retention_s: how long an answer is kept (FACEGATE_API_IDEMPOTENCY_RETENTION_S).
        clock: the wall clock (timezone-aware UTC) an answer's age is measured on.
        wait: waits up to its argument (seconds) between two passes and returns whether to stop; default:
            until `stop` is called (tests pass one that moves their clock on instead).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        retention_s: int,
        clock: Callable[[], datetime],
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self._engine = engine
        self._retention = timedelta(seconds=retention_s)
        self._clock = clock
        self._stop = threading.Event()
        self._wait = wait if wait is not None else self._stop.wait
        self._thread: threading.Thread | None = None
        self._failed_passes = 0
        self.interval_s = purge_interval_s(retention_s)

    def start(self) -> None:
        """Run `run` in a thread of its own until `stop` is called."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="idempotency-purge", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the thread after its current batch (its first pass has done one at least) and wait for it, up
        to 30 s (a database that does not answer); safe to call more than once."""
        self._stop.set()
        thread, self._thread = self._thread, None
        join_or_leave(thread, what="the idempotency purge", log=logger)

    def run(self) -> None:
        """A pass now, then one after each wait, until a wait says stop. Never raises: a failed pass is
        logged and the next one tries again."""
        while True:
            self._pass()
            if self._wait(self.interval_s):
                return

    def purge_expired(self) -> int:
        """One pass, in the caller (`facegate maintenance purge`): every answer recorded more than the
        retention ago, a batch per transaction; returns how many were deleted.

        Raises:
            StorageError: the database failed; the batches before the failure stay deleted.
        """
        return self._purge(created_before=self._clock() - self._retention)

    def _pass(self) -> None:
        try:
            purged = self.purge_expired()
        except Exception as exc:  # the top of a worker loop (E4): the server serves on, the next pass retries
            self._failed(exc)
            return
        if self._failed_passes:
            logger.info(
                "purging expired idempotency answers works again, after %d failed passes", self._failed_passes
            )
            self._failed_passes = 0
        if purged:
            logger.info("purged %d expired idempotency answers", purged)

    def _purge(self, *, created_before: datetime) -> int:
        """Every answer recorded before `created_before`, a batch per transaction, until none are left (or
        `stop` is called); returns how many were deleted."""
        total = 0
        while True:
            with session_scope(self._engine) as session:
                purged = purge_idempotent_responses(session, created_before=created_before)
            total += purged
            if purged == 0 or self._stop.is_set():
                return total

    def _failed(self, exc: Exception) -> None:
        """One line per outage, not one per pass; a traceback only for what is not a storage error (a bug)."""
        self._failed_passes += 1
        if self._failed_passes > 1:
            logger.debug("purging expired idempotency answers failed again: %s", type(exc).__name__)
            return
        logger.warning(
            "purging expired idempotency answers failed: %s: %s; tried again every %.0f s",
            type(exc).__name__,
            exc,
            self.interval_s,
            exc_info=None if isinstance(exc, StorageError) else exc,
        )
