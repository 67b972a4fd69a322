"""The enrolled gallery for requests: one decrypted copy per process, kept current from the change log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from enrollment.errors import GalleryLoading
from recognition import (
    Gallery,
    GallerySource,
    GallerySync,
    Match,
    Recognizer,
    StoredTemplate,
    TemplateChanges,
)
from storage import Cipher, Engine, Session, StoredGallery, iter_templates, session_scope

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


@dataclass(frozen=True)
class SearchedGallery:
    """What /identify searches: a gallery, less the people removed since its version.

    While a reload builds the next gallery, the last complete one is searched; the people the change
    log names as removed (or changed: deleting a template removes its person and adds the rest back)
    since then are never answered, so no one is matched after their removal was committed.
    """

    gallery: Gallery
    excluded_person_ids: frozenset[int] = frozenset()

    def __len__(self) -> int:
        return len(self.gallery)

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        """Up to k persons, best template's cosine each, best first (Gallery.search), none excluded."""
        found = self.gallery.search(vector, k + len(self.excluded_person_ids))
        return [match for match in found if match.person_id not in self.excluded_person_ids][:k]


class GalleryService:
    """Serves /identify and the enrollment duplicate check from one gallery (no rebuild per request).

    Each call checks the stored version in the caller's session and applies what changed since. A
    full load (the first, or when the change log cannot say) runs in the caller until `start`, then
    in a thread of the service's own; either way no other call waits for it. Thread-safe: one call
    changes the gallery at a time; the others wait for a change from the log (milliseconds), not for a
    full load.
    """

    def __init__(self, keyring: Cipher, recognizer: Recognizer) -> None:
        self._keyring = keyring
        self._recognizer = recognizer
        self._sync = GallerySync(recognizer, monotonic=time.monotonic)
        self._lock = threading.Lock()
        """Held by whoever changes the gallery: a call applying the log, or a full load."""
        self._engine: Engine | None = None
        self._loader: threading.Thread | None = None
        self._failure: Exception | None = None
        self._stop = threading.Event()

    @property
    def is_loading(self) -> bool:
        """Whether a full load is under way (or started and about to be)."""
        return self._sync.is_loading or (self._loader is not None and self._loader.is_alive())

    def start(self, engine: Engine) -> None:
        """Load the gallery in full now, in the service's own thread, and every later full load too.

        Requests meanwhile are answered GalleryLoading (503), not held: a server coming up warms its
        gallery before its first request needs it. A failed load is logged, raised to the next call
        that needs the gallery, and retried by it. Call `close` when done.
        """
        self._stop.clear()
        self._engine = engine
        if not self._lock.acquire(blocking=False):
            return  # a call is changing the gallery now: it loads it, or the next one does
        try:
            if self._sync.version is None and not self.is_loading:
                self._start_load()
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
            StorageError: the stored gallery cannot be read or decrypted (also: the service's last full
                load failed so; a new one is started).
            RecognitionError: a stored template does not fit the model.
        """
        gallery = self._refreshed(session)
        if gallery is None:
            raise GalleryLoading(_LOADING)
        return gallery

    def searched(self, session: Session) -> SearchedGallery:
        """The gallery to identify in: `current`, or while a reload is under way, the last complete
        gallery less the people removed since (when the change log can name them).

        Raises:
            GalleryLoading: no complete gallery yet, or the log cannot say who was removed since it.
            StorageError, RecognitionError: as `current`.
        """
        gallery = self._refreshed(session)
        if gallery is not None:
            return SearchedGallery(gallery)
        version, stale = self._sync.version, self._sync.gallery  # in this order: see GallerySync
        changes = None if version is None else self._source(session).changes_since(version)
        if changes is None:
            raise GalleryLoading(_LOADING)
        excluded = frozenset(changes.removed_person_ids)
        logger.debug(
            "identifying in gallery version %d during a reload, %d people excluded", version, len(excluded)
        )
        return SearchedGallery(stale, excluded)

    def _refreshed(self, session: Session) -> Gallery | None:
        """The gallery at the session's version; None while a full load is under way elsewhere."""
        while not self._lock.acquire(timeout=_LOAD_CHECK_S):
            if self.is_loading:
                return None
        try:
            if self.is_loading:
                return None
            source = self._source(session)
            if self._sync.catch_up(source):
                return self._sync.gallery
            if self._engine is None:
                self._sync.load(source)
                return self._sync.gallery
            failure, self._failure = self._failure, None
            self._start_load()
        finally:
            self._lock.release()
        if failure is not None:
            raise failure  # the last load's, logged with its traceback; this call started the next
        return None

    def _source(self, session: Session) -> StoredGallery:
        return StoredGallery(session, self._keyring, model_id=self._recognizer.model_id)

    def _start_load(self) -> None:
        """Start the full load thread (the caller holds the lock, so none is running)."""
        self._loader = threading.Thread(
            target=self._load, args=(self._engine,), name="gallery-load", daemon=True
        )
        self._loader.start()

    def _load(self, engine: Engine) -> None:
        try:
            with session_scope(engine) as session, self._lock:
                self._sync.load(_Stoppable(self._source(session), self._stop))
        except _LoadStopped:
            logger.info("gallery load stopped (the server is shutting down)")
        except Exception as exc:  # the top of a worker: the next call that needs the gallery sees it, retries
            logger.exception("gallery load failed; the next request that needs the gallery retries it")
            self._failure = exc


class _LoadStopped(Exception):
    """`close` stopped a full load."""


class _Stoppable:
    """A stored gallery whose template batches end in _LoadStopped once `stop` is set."""

    def __init__(self, source: GallerySource, stop: threading.Event) -> None:
        self._source = source
        self._stop = stop

    def version(self) -> int:
        return self._source.version()

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
    session: Session, keyring: Cipher, recognizer: Recognizer, *, lookalike_min_cos: float | None = None
) -> Gallery:
    """A one-off gallery of every stored template of the recognizer's model (for a CLI command).

    Raises:
        UnknownKeyId, DecryptionError: a stored template cannot be decrypted.
    """
    templates = (
        (t.template_id, t.person_id, t.plaintext)
        for t in iter_templates(session, keyring, model_id=recognizer.model_id)
    )
    return recognizer.new_gallery(templates, lookalike_min_cos=lookalike_min_cos)
