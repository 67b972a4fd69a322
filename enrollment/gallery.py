"""The enrolled gallery for requests: one decrypted copy per process, kept current from the change log."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from enrollment.errors import GalleryLoadFailed, GalleryLoading
from recognition import (
    Gallery,
    GallerySource,
    GallerySync,
    LoadProgress,
    Match,
    Recognizer,
    StoredTemplate,
    TemplateChanges,
    load_gallery,
)
from storage import Cipher, Engine, Session, StoredGallery, session_scope

logger = logging.getLogger(__name__)

_LOAD_CHECK_S = 0.1
"""How often a request waiting for the gallery looks whether it waits for a full load."""
_STOP_WAIT_S = 30.0
"""How long `close` waits for a full load to stop: it stops at its next batch of templates, or after
the index build (15.5 s at a million templates, BENCHMARKS 'Galleries of a million')."""
_LOADING = (
    "the gallery is being loaded in full (its first use since the server started, or a reload the change "
    "log cannot give); retry in a few seconds"
)
_RETRY_FIRST_S = 1.0
"""The wait after a failed full load before the next may start; it doubles with each failure in a row,"""
_RETRY_MAX_S = 60.0
"""up to this: under a broken key or a database outage the whole gallery is read once a minute, not once a
request."""


@dataclass(frozen=True)
class SearchedGallery:
    """What /identify searches: a gallery, less the people removed since its version.

    While a reload builds the next gallery, the last complete one is searched; the people the change
    log names as removed (or changed: deleting a template removes its person and adds the rest back)
    since then are never answered, so no one is matched after their removal was committed.
    """

    gallery: Gallery
    excluded_person_ids: frozenset[int] = frozenset()
    admitted_person_ids: frozenset[int] | None = None
    """Only these people are answered (a device key's doors' people); None: everyone."""

    def __len__(self) -> int:
        return len(self.gallery)

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        """Up to k persons, best template's cosine each, best first (Gallery.search), none excluded and
        none outside `admitted_person_ids`: the search deepens until k are found or the gallery ends."""
        admitted, excluded = self.admitted_person_ids, self.excluded_person_ids
        if admitted is not None and not admitted:
            return []
        depth = k + len(excluded)
        while True:
            found = self.gallery.search(vector, depth)
            kept = [
                match
                for match in found
                if match.person_id not in excluded and (admitted is None or match.person_id in admitted)
            ]
            if len(kept) >= k or len(found) < depth:
                return kept[:k]
            depth *= 4


class GalleryService:
    """Serves /identify and the enrollment duplicate check from one gallery (no rebuild per request).

    Each call checks the stored version in the caller's session and applies what changed since. A
    full load (the first, or when the change log cannot say) runs in the caller until `start`, then
    in a thread of the service's own; either way no other call waits for it. Thread-safe: one call
    changes the gallery at a time; the others wait for a change from the log (milliseconds), not for a
    full load.
    """

    def __init__(
        self,
        keyring: Cipher,
        recognizer: Recognizer,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        progress: LoadProgress | None = None,
    ) -> None:
        """`progress`, when given, is told each full load's progress (a CLI command's progress bar)."""
        self._keyring = keyring
        self._recognizer = recognizer
        self._monotonic = monotonic
        self._sync = GallerySync(recognizer, monotonic=monotonic, progress=progress)
        self._lock = threading.Lock()
        """Held by whoever changes the gallery: a call applying the log, or a full load."""
        self._engine: Engine | None = None
        self._loader: threading.Thread | None = None
        self._stop = threading.Event()
        self._retry_at_s: float | None = None
        """When a full load may start again after one failed (on `monotonic`); None: at once."""
        self._next_wait_s = _RETRY_FIRST_S
        """The backoff the next failure in a row sets."""

    @property
    def is_loading(self) -> bool:
        """Whether a full load is under way (or started and about to be)."""
        return self._sync.is_loading or (self._loader is not None and self._loader.is_alive())

    def start(self, engine: Engine) -> None:
        """Load the gallery in full now, in the service's own thread, and every later full load too.

        Requests meanwhile are answered GalleryLoading (503), not held: a server coming up warms its
        gallery before its first request needs it. A failed load is logged and retried by the first
        call that needs the gallery (or asks `readiness`) after a backoff of 1 s, doubling with each
        failure in a row up to 60 s; calls meanwhile are answered GalleryLoadFailed with the wait left.
        Call `close` when done.
        """
        self._stop.clear()
        self._engine = engine
        if not self._lock.acquire(blocking=False):
            return  # a call is changing the gallery now: it loads it, or the next one does
        try:
            if self._sync.version is None and not self.is_loading:
                self._load_started()
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop a full load under way (at its next batch of templates) and wait for its thread; later
        full loads run in the caller again. Idempotent."""
        self._stop.set()
        if self.is_loading:
            logger.info("stopping the gallery load under way")
        if not self._lock.acquire(timeout=_STOP_WAIT_S):
            logger.warning(
                "the gallery load did not stop within %.0f s; left to end on its own", _STOP_WAIT_S
            )
            return
        try:
            self._engine = None
            loader = self._loader
        finally:
            self._lock.release()
        if loader is not None:
            loader.join(_STOP_WAIT_S)  # ends at once: stopped, or started since and stopped at its start

    def current(self, session: Session) -> Gallery:
        """The gallery as of the session's stored version.

        Raises:
            GalleryLoading: a full load is under way (in another call or the service's thread).
            GalleryLoadFailed: the service's last full load failed; the next waits out its backoff.
            StorageError: the stored gallery cannot be read or decrypted.
            RecognitionError: a stored template does not fit the model.
        """
        refreshed = self._refreshed(session)
        if isinstance(refreshed, GalleryLoading):
            raise refreshed
        return refreshed

    def searched(self, session: Session) -> SearchedGallery:
        """The gallery to identify in: `current`, or while a reload is under way, the last complete
        gallery less the people removed since (when the change log can name them).

        Raises:
            GalleryLoading: no complete gallery yet, or the log cannot say who was removed since it.
            GalleryLoadFailed, StorageError, RecognitionError: as `current`.
        """
        found = self._searchable(session)
        if isinstance(found, GalleryLoading):
            raise found
        return found

    def readiness(self, session: Session) -> GalleryLoading | None:
        """None when `searched` answers now; else what it raises now. So a server is not ready while its
        reload cannot be answered from the last gallery (after a restore the log cannot say who was
        removed since it) and /identify answers 503. Like `searched`, it starts the retry of a failed load
        whose backoff is over: an orchestrator's probes retry a replica that gets no traffic because it is
        not ready. Before `start`, it loads nothing: not ready until a call has loaded the gallery.

        Raises:
            StorageError, RecognitionError: as `current`.
        """
        if self._engine is None:
            return None if self._sync.version is not None else GalleryLoading(_LOADING)
        found = self._searchable(session)
        return found if isinstance(found, GalleryLoading) else None

    def _searchable(self, session: Session) -> SearchedGallery | GalleryLoading:
        """What `searched` returns, or the GalleryLoading it raises."""
        refreshed = self._refreshed(session)
        if not isinstance(refreshed, GalleryLoading):
            return SearchedGallery(refreshed)
        epoch, version, stale = self._sync.epoch, self._sync.version, self._sync.gallery  # see GallerySync
        source = self._source(session)
        changes = None  # also in another epoch: a restore's log cannot say who was removed since `stale`
        if version is not None and epoch == source.stamp()[1]:
            changes = source.changes_since(version)
        if changes is None:
            return refreshed
        excluded = frozenset(changes.removed_person_ids)
        logger.debug("gallery version %d answers during a reload, %d people excluded", version, len(excluded))
        return SearchedGallery(stale, excluded)

    def _refreshed(self, session: Session) -> Gallery | GalleryLoading:
        """The gallery at the session's version, or why there is none now: a full load under way
        elsewhere (started here when one is needed), or a failed one's backoff."""
        while not self._lock.acquire(timeout=_LOAD_CHECK_S):
            if self.is_loading:
                return GalleryLoading(_LOADING)
        try:
            if self.is_loading:
                return GalleryLoading(_LOADING)
            source = self._source(session)
            if self._sync.catch_up(source):
                return self._sync.gallery
            if self._engine is None:
                self._sync.load(source)
                return self._sync.gallery
            return self._load_started()
        finally:
            self._lock.release()

    def _source(self, session: Session) -> StoredGallery:
        return StoredGallery(session, self._keyring, model_id=self._recognizer.model_id)

    def _load_started(self) -> GalleryLoading:
        """Start the full load thread unless a failed load's backoff is still running; returns what a
        call is answered meanwhile. The caller holds the lock, so no load is running."""
        if self._retry_at_s is not None:
            wait_s = math.ceil(self._retry_at_s - self._monotonic())
            if wait_s > 0:
                return GalleryLoadFailed(
                    f"the gallery could not be loaded (the server log says why); next try in {wait_s} s",
                    retry_after_s=wait_s,
                )
        self._loader = threading.Thread(
            target=self._load, args=(self._engine,), name="gallery-load", daemon=True
        )
        self._loader.start()
        return GalleryLoading(_LOADING)

    def _load(self, engine: Engine) -> None:
        with self._lock:
            try:
                with session_scope(engine) as session:
                    self._sync.load(_Stoppable(self._source(session), self._stop))
            except _LoadStopped:
                logger.info("gallery load stopped (the server is shutting down)")
            except Exception:  # the top of a worker: calls get GalleryLoadFailed until the backoff is over
                wait_s, self._next_wait_s = self._next_wait_s, min(2.0 * self._next_wait_s, _RETRY_MAX_S)
                self._retry_at_s = self._monotonic() + wait_s
                logger.exception(
                    "gallery load failed; retried by the first request or readiness probe after %.0f s",
                    wait_s,
                )
            else:
                self._retry_at_s, self._next_wait_s = None, _RETRY_FIRST_S


class _LoadStopped(Exception):
    """`close` stopped a full load."""


class _Stoppable:
    """A stored gallery whose template batches end in _LoadStopped once `stop` is set."""

    def __init__(self, source: GallerySource, stop: threading.Event) -> None:
        self._source = source
        self._stop = stop

    def stamp(self) -> tuple[int, str]:
        return self._source.stamp()

    def changes_since(self, version: int) -> TemplateChanges | None:
        return self._source.changes_since(version)

    def count(self) -> int:
        return self._source.count()

    def batches(self) -> Iterator[Sequence[StoredTemplate]]:
        for batch in self._source.batches():
            if self._stop.is_set():
                raise _LoadStopped
            yield batch


def stored_gallery(
    session: Session,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    lookalike_min_cos: float | None = None,
    progress: LoadProgress | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Gallery:
    """A one-off gallery of every stored template of the recognizer's model (for a CLI command), loaded as
    a gate loads it (`load_gallery`: stored look-alike records at the model's threshold, else a search of
    every template), telling `progress` how it goes.

    Raises:
        NotFound, UnknownKeyId, DecryptionError: a stored template cannot be decrypted.
    """
    source = StoredGallery(session, keyring, model_id=recognizer.model_id)
    return load_gallery(
        source, recognizer, monotonic=monotonic, lookalike_min_cos=lookalike_min_cos, progress=progress
    )
