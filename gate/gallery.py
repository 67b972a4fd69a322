"""Keeps the gate's decrypted gallery in step with storage, off the frame path (A2).

The first load happens on the first call (nothing to decide on before it). After that, with a
`reload_in` executor, every check runs in the background while the gate keeps deciding on the
gallery it has: a change log delta is applied in place (the Gallery's lock is held only while the
index changes), and a full reload (no usable log, or a failed delta) builds a new gallery that is
swapped in by one assignment.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future
from types import TracebackType

from gate.errors import GalleryStale
from gate.failure_log import FailureLog, FailureTexts
from recognition import Gallery, GallerySync, Recognizer
from storage import (
    Cipher,
    DatabaseUnavailable,
    Engine,
    Session,
    StoredGallery,
    people_of_other_models,
    session_scope,
)

logger = logging.getLogger(__name__)

_CHECK_FAILED = FailureTexts(
    first="gallery check failed (%(cause)s); every face is denied until a check succeeds",
    still="gallery check still failing: %(count)d checks failed in the last %(span_s).0f s",
    ended="gallery check succeeded again after %(span_s).1f s (%(count)d checks failed)",
)


class GalleryCache:
    """Checks the version at most every `poll_s` seconds of the injected monotonic clock.

    While the database is unreachable the last confirmed gallery is served for up to `max_stale_s`
    seconds from the first failed check (the default 0 serves none), then GalleryStale is raised
    until a check succeeds; with no gallery loaded yet it is raised at once. Any other failed check
    or reload (an unknown key, a decryption failure) raises every time until one succeeds, so the gate
    never decides on a gallery it could not confirm (F3). The outage is logged once, not per frame; a
    failed check by its first cause, a count every `error_log_interval_s` and its end, not per check
    (the worker logs the cause's traceback when it is raised to a frame).
    Without `reload_in` every check runs inside `current()` (replays and tests).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        keyring: Cipher,
        recognizer: Recognizer,
        poll_s: float,
        monotonic: Callable[[], float],
        max_stale_s: float = 0.0,
        reload_in: Executor | None = None,
        error_log_interval_s: float = 30.0,
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self._recognizer = recognizer
        self._poll_s = poll_s
        self._monotonic = monotonic
        self._max_stale_s = max_stale_s
        self._reload_in = reload_in
        self._sync = GallerySync(recognizer, monotonic=monotonic)
        self._checked_at = float("-inf")
        self._confirmed_at: float | None = None
        self._pending: tuple[float, Future[None]] | None = None
        self._failure: tuple[Exception, TracebackType | None] | None = None  # the error, where it arose
        self._failures = FailureLog(
            logger, _CHECK_FAILED, interval_s=error_log_interval_s, monotonic=monotonic, is_traced=False
        )
        self._outage: tuple[float, DatabaseUnavailable] | None = None
        self._is_stale_logged = False

    @property
    def version(self) -> int | None:
        """The stored gallery version the current gallery reflects (None before the first load)."""
        return self._sync.version

    @property
    def confirmed_at_s(self) -> float | None:
        """When the last check that succeeded started (None before one). Checks run only when the gate asks
        for its gallery (a face at the door), at most every `poll_s`."""
        return self._confirmed_at

    def current(self) -> Gallery:
        """The gallery to decide on now.

        Raises:
            GalleryStale: the database has been unreachable longer than `max_stale_s`, or was
                unreachable before any gallery was loaded.
            StorageError, RecognitionError: the stored gallery cannot be read or indexed.
        """
        now = self._monotonic()
        self._collect()
        if self._pending is None and now - self._checked_at >= self._poll_s:
            if self._reload_in is None or self._sync.version is None:
                self._settle(now, self._attempt())
            else:
                self._pending = (now, self._reload_in.submit(self._refresh))
            self._checked_at = now
        if self._failure is not None:
            # Raised to every frame until the next check: each raise from its first traceback, as each would
            # add the frame loop's frames (and the frame's image) to the one it left.
            error, traceback = self._failure
            raise error.with_traceback(traceback)
        if self._outage is not None:
            self._raise_if_stale(now, *self._outage)
        return self._sync.gallery

    def _collect(self) -> None:
        """Settle a finished background check (never waits for one still running)."""
        if self._pending is None or not self._pending[1].done():
            return
        started, future = self._pending
        self._pending = None
        self._settle(started, future.exception())

    def _attempt(self) -> BaseException | None:
        try:
            self._refresh()
        except Exception as exc:  # handed to _settle, which raises it to every caller until a success
            return exc
        return None

    def _settle(self, started: float, error: BaseException | None) -> None:
        if isinstance(error, DatabaseUnavailable):
            self._enter_outage(started, error)
        elif isinstance(error, Exception):
            self._failures.failed(error)
            self._failure = (error, error.__traceback__)
        elif error is None:
            self._failures.recovered()
            self._failure = None
            self._confirmed_at = started
            self._leave_outage(started)
        else:
            raise error

    def _refresh(self) -> None:
        is_first_load = self._sync.version is None
        with session_scope(self._engine) as session:
            self._sync.refresh(StoredGallery(session, self._keyring, model_id=self._recognizer.model_id))
            if is_first_load:
                self._warn_of_other_models(session)

    def _warn_of_other_models(self, session: Session) -> None:
        """Say once, at the first load, how many people only other models enrolled (a model switch)."""
        model_id = self._recognizer.model_id
        people = people_of_other_models(session, model_id=model_id)
        if not people:
            return
        templates = Counter[str]()
        for person in people:
            templates.update(person.templates_by_model)
        logger.warning(
            "%d people are enrolled only under other models (%s), so not in this gallery of %s: they are "
            "denied until enrolled again under it (`facegate people list` names them)",
            len(people),
            ", ".join(f"{other}: {count} templates" for other, count in sorted(templates.items())),
            model_id,
        )

    def _enter_outage(self, now: float, exc: DatabaseUnavailable) -> None:
        if self._outage is None:
            logger.warning(
                "database unreachable (%s): deciding from gallery version %s for up to %.0f s",
                exc,
                self._sync.version,
                self._max_stale_s,
            )
            self._outage = (now, exc)

    def _leave_outage(self, now: float) -> None:
        if self._outage is not None:
            logger.warning("database reachable again after %.1f s; gallery confirmed", now - self._outage[0])
        self._outage, self._is_stale_logged = None, False

    def _raise_if_stale(self, now: float, since: float, cause: DatabaseUnavailable) -> None:
        if self._sync.version is not None and now - since < self._max_stale_s:
            return
        message = (
            f"database unreachable for {now - since:.1f} s (stale gallery limit {self._max_stale_s:.0f} s, "
            f"gallery version {self._sync.version}): every face is denied"
        )
        if not self._is_stale_logged:
            logger.error("%s", message)
            self._is_stale_logged = True
        raise GalleryStale(message) from cause
