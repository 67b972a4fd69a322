"""Forwards the gate's journalled audit events to the audit log from a thread of its own.

The camera loop only appends to the local journal (gate/journal.py) and never waits on the audit log;
this thread delivers the backlog at start-up and every new entry after it, oldest first, through an
`EventSink` (the database directly, or the API for an edge gate: gate/edge.py), and while the sink is
away retries with a doubling wait, or the API's Retry-After when longer (up to the longest wait), logging
the outage once. A delivery that fails otherwise (a bug, a
journal that cannot record its position) is logged by its start with one traceback, a count per
`error_log_interval_s` and its end (gate/failure_log.py), not with a traceback per retry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from gate.errors import UpstreamUnavailable
from gate.failure_log import FailureLog, FailureTexts
from gate.journal import EventJournal, JournalEntry
from storage import (
    AuditEventCreate,
    Cipher,
    DatabaseUnavailable,
    Engine,
    SchemaMissing,
    append_new_events,
    session_scope,
)

logger = logging.getLogger(__name__)

BATCH_EVENTS = 100
_DELIVERY_FAILED = FailureTexts(
    first="delivering the audit journal %(where)s failed (%(cause)s); retrying",
    still="delivering the audit journal %(where)s still failing: %(count)d attempts failed in the last "
    "%(span_s).0f s; events wait in the journal",
    ended="delivering the audit journal %(where)s works again after %(span_s).1f s "
    "(%(count)d attempts failed)",
)

EventSink = Callable[[Sequence[AuditEventCreate]], int]
"""Stores a batch in the audit log in order, skipping events whose `event_uid` it holds; how many were new.

Raises UpstreamUnavailable while the audit log cannot be reached (the batch is retried later).
"""


def database_sink(engine: Engine, keyring: Cipher) -> EventSink:
    """The audit log in the database, one transaction per batch."""

    def store(events: Sequence[AuditEventCreate]) -> int:
        try:
            with session_scope(engine) as session:
                return append_new_events(session, keyring, events)
        except (DatabaseUnavailable, SchemaMissing) as exc:  # the events wait until it is back or migrated
            raise UpstreamUnavailable(str(exc)) from exc

    return store


class JournalDeliverer:
    """`record` journals an event and returns; a thread moves the journal into the audit log.

    Exactly once: the sink skips the uids the log already holds (delivered before a crash that came
    between the commit and the journal's position update).
    """

    def __init__(
        self,
        journal: EventJournal,
        *,
        sink: EventSink,
        retry_initial_s: float,
        retry_max_s: float,
        monotonic: Callable[[], float],
        error_log_interval_s: float = 30.0,
        batch_events: int = BATCH_EVENTS,
    ) -> None:
        self._journal = journal
        self._sink = sink
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._batch_events = batch_events
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._delivered = threading.Condition()
        self._thread: threading.Thread | None = None
        self._is_outage = False
        self.inserted_count = 0
        self.skipped_count = 0
        self.error_count = 0
        self._failures = FailureLog(
            logger,
            _DELIVERY_FAILED,
            where=str(journal.path),
            interval_s=error_log_interval_s,
            monotonic=monotonic,
        )

    @property
    def pending_count(self) -> int:
        """Events journalled and not yet delivered to the audit log."""
        return self._journal.pending_count

    def record(self, event: AuditEventCreate) -> None:
        """The gate's audit callable: durable in the journal when it returns (fsync), delivered later.

        Raises:
            JournalError: the journal cannot be written.
        """
        self._journal.append(event)
        self._wake.set()

    def start(self) -> None:
        """Start the delivery thread; it begins with whatever the journal still holds."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._wake.set()
        self._thread = threading.Thread(target=self._run, name="audit-journal-delivery", daemon=True)
        self._thread.start()

    def stop(self, *, drain_timeout_s: float) -> None:
        """Wait up to `drain_timeout_s` for the journal to empty, then stop; safe to call more than once.

        What is still undelivered stays in the journal for the next start.
        """
        if self._thread is None:
            return
        if not self.wait_delivered(drain_timeout_s):
            logger.warning(
                "%d audit events stay in the journal %s until the gate runs again",
                self._journal.pending_count,
                self._journal.path,
            )
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._thread = None

    def wait_delivered(self, timeout_s: float) -> bool:
        """Whether the journal emptied within `timeout_s` seconds."""
        with self._delivered:
            return self._delivered.wait_for(lambda: self._journal.pending_count == 0, timeout=timeout_s)

    def deliver_pending(self) -> int:
        """Deliver every pending entry now, in order, in batches; how many were inserted (skips excluded).

        Raises:
            UpstreamUnavailable: the audit log cannot be reached; what was committed stays delivered.
            JournalError: the delivery position cannot be written.
        """
        inserted = 0
        while batch := self._journal.pending(self._batch_events):
            inserted += self._deliver_batch(batch)
            with self._delivered:
                self._delivered.notify_all()
        return inserted

    def _deliver_batch(self, batch: Sequence[JournalEntry]) -> int:
        inserted = self._sink([entry.event for entry in batch])
        if inserted < len(batch):
            logger.info("%d journal entries were already in the audit log; skipped", len(batch) - inserted)
        self._journal.mark_delivered(batch)
        self.inserted_count += inserted
        self.skipped_count += len(batch) - inserted
        return inserted

    def _run(self) -> None:
        retry_s = self._retry_initial_s
        while not self._stop.is_set():
            self._wake.clear()
            wait_s = self._attempt(retry_s)
            if wait_s is None:
                retry_s = self._retry_initial_s
                self._wake.wait()
            else:
                self._stop.wait(wait_s)
                retry_s = min(2.0 * retry_s, self._retry_max_s)

    def _attempt(self, backoff_s: float) -> float | None:
        """One delivery pass; None when it worked, else the wait before the next: `backoff_s`, or the API's
        Retry-After when longer (up to the longest retry wait)."""
        try:
            inserted = self.deliver_pending()
        except UpstreamUnavailable as exc:
            if not self._is_outage:
                logger.warning(
                    "audit log unreachable (%s); events wait in the journal %s", exc, self._journal.path
                )
                self._is_outage = True
            wait_s = exc.wait_s(backoff_s, max_s=self._retry_max_s)
            if exc.retry_after_s is not None:
                logger.debug(
                    "audit journal delivery: next attempt in %.1f s (the API's Retry-After: %g s)",
                    wait_s,
                    exc.retry_after_s,
                )
            return wait_s
        except Exception as exc:  # E4: top of the delivery loop; log (a traceback a cause), count, retry
            self.error_count += 1
            self._failures.failed(exc)
            return backoff_s
        self._failures.recovered()
        if self._is_outage:
            logger.warning("audit log reachable again: %d journalled events delivered", inserted)
            self._is_outage = False
        return None
