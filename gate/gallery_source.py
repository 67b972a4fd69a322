"""Where a gate gets its gallery and door rules and sends its audit events: one protocol, two kinds.

`database` (single-host installs): the gallery and rules read from the database, events appended to
it. `api` (edge gates, gate/edge.py): the sealed gallery of the device's doors from the API, events
posted to it. `gallery_source.kind` in the gate settings picks one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from gate.access_policy import AccessPolicyCache, DoorPolicy
from gate.delivery import EventSink, database_sink
from gate.gallery import GalleryCache
from gate.settings import GateSettings
from recognition import Gallery, Recognizer, limit_search_threads
from storage import Cipher, DoorNotFound, Engine, current_door_name, ensure_door, session_scope

logger = logging.getLogger(__name__)


class GateUpstream(Protocol):
    """The gate's upstream: what `run_gate` decides on, and where its journal delivers."""

    def start(self) -> None:
        """Connect and load; called once before the first frame."""

    def gallery(self) -> Gallery:
        """The gallery to decide on now. Raises GalleryStale (or another GateError) to deny."""

    def gallery_confirmed_at_s(self) -> float | None:
        """When the gallery was last confirmed upstream, on the gate's monotonic clock; None before that.

        The gate denies every face once it is older than gallery_max_stale_s (a database gate: once the
        database has been away that long).
        """

    def access(self) -> DoorPolicy:
        """The door's rules now. Raises a GateError or StorageError to deny."""

    def event_sink(self) -> EventSink:
        """Where journalled audit events go."""

    def close(self) -> None:
        """Release threads and connections; safe to call more than once."""


class DatabaseGallerySource:
    """The gallery, rules and audit log in the database (engine and master keyring in this process).

    The gallery is re-checked and reloaded in a background thread (gate/gallery.py).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        keyring: Cipher,
        recognizer: Recognizer,
        door: str,
        settings: GateSettings,
        monotonic: Callable[[], float],
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self._door = door
        self._unknown_door = settings.unknown_door
        self._reloads = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="gallery-sync",
            initializer=limit_search_threads,  # OpenMP settings are per thread
            initargs=(settings.reload_threads,),
        )
        self._cache = GalleryCache(
            engine=engine,
            keyring=keyring,
            recognizer=recognizer,
            poll_s=settings.gallery_poll_s,
            monotonic=monotonic,
            max_stale_s=settings.gallery_max_stale_s,
            reload_in=self._reloads,
            error_log_interval_s=settings.decision.error_audit_interval_s,
        )
        self._access = AccessPolicyCache(
            engine=engine, door=door, poll_s=settings.gallery_poll_s, monotonic=monotonic
        )

    def start(self) -> None:
        """Register the door in the database (see `_register_door`) and load the gallery. Raises
        DatabaseUnavailable.

        The first load runs on the reload thread (FAISS on `reload_threads`), as every later reload:
        nothing is decided before it. A failed load is not
        raised here; the cache raises it to every frame until a check succeeds (F3).
        """
        self._register_door()
        self._reloads.submit(self._cache.current).exception()

    def _register_door(self) -> None:
        """Register the door when it is new, unless `unknown_door` is refuse: a door that is no door's name,
        now or formerly, is then left unknown, and the access policy denies every face as unknown_door
        until an admin registers it (a misspelt name must not open a new door to every enrolled person)."""
        with session_scope(self._engine) as session:
            if self._unknown_door == "register":
                ensure_door(session, name=self._door)
                return
            try:
                current_door_name(session, self._door)
            except DoorNotFound as exc:
                logger.error(
                    "door %s: %s, and unknown_door is refuse: not registered; every face is denied until the "
                    "door is registered (facegate doors create, POST /doors or the console's Access page)",
                    self._door,
                    exc,
                )

    def gallery(self) -> Gallery:
        return self._cache.current()

    def gallery_confirmed_at_s(self) -> float | None:
        return self._cache.confirmed_at_s

    def access(self) -> DoorPolicy:
        return self._access.current()

    def event_sink(self) -> EventSink:
        return database_sink(self._engine, self._keyring)

    def close(self) -> None:
        """Stop the background gallery checks (the engine belongs to the caller)."""
        self._reloads.shutdown(wait=False, cancel_futures=True)
