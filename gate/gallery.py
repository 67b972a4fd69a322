"""Keeps a decrypted in-memory gallery and rebuilds it when the stored gallery version changes (A2)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gate.errors import GalleryStale
from recognition import Gallery, Recognizer
from storage import Cipher, DatabaseUnavailable, Engine, gallery_version, iter_templates, session_scope

logger = logging.getLogger(__name__)


class GalleryCache:
    """Checks the version at most every `poll_s` seconds of the injected monotonic clock.

    While the database is unreachable the last confirmed gallery is served for up to `max_stale_s`
    seconds from the first failed check (the default 0 serves none), then GalleryStale is raised
    until a check succeeds; with no gallery loaded yet it is raised at once. Any other failed check
    or reload (an unknown key, a decryption failure) raises every time until one succeeds, so the gate
    never decides on a gallery it could not confirm (F3). The outage is logged once, not per frame.
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
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self._recognizer = recognizer
        self._poll_s = poll_s
        self._monotonic = monotonic
        self._version: int | None = None
        self._max_stale_s = max_stale_s
        self._checked_at = float("-inf")
        self._outage: tuple[float, DatabaseUnavailable] | None = None
        self._is_stale_logged = False
        self._gallery = recognizer.new_gallery()

    def current(self) -> Gallery:
        """The gallery to decide on now.

        Raises:
            GalleryStale: the database has been unreachable longer than `max_stale_s`, or was
                unreachable before any gallery was loaded.
            StorageError, RecognitionError: the stored gallery cannot be read or indexed.
        """
        now = self._monotonic()
        if now - self._checked_at >= self._poll_s:
            try:
                self._refresh()
            except DatabaseUnavailable as exc:
                self._enter_outage(now, exc)
            else:
                self._leave_outage(now)
            self._checked_at = now
        if self._outage is not None:
            self._raise_if_stale(now, *self._outage)
        return self._gallery

    def _refresh(self) -> None:
        with session_scope(self._engine) as session:
            version = gallery_version(session)
            if version == self._version:
                return
            templates = iter_templates(session, self._keyring, model_id=self._recognizer.model_id)
            self._gallery = self._recognizer.new_gallery(
                (t.template_id, t.person_id, t.plaintext) for t in templates
            )
        self._version = version
        logger.info("gallery version %d loaded: %d templates", version, len(self._gallery))

    def _enter_outage(self, now: float, exc: DatabaseUnavailable) -> None:
        if self._outage is None:
            logger.warning(
                "database unreachable (%s): deciding from gallery version %s for up to %.0f s",
                exc,
                self._version,
                self._max_stale_s,
            )
            self._outage = (now, exc)

    def _leave_outage(self, now: float) -> None:
        if self._outage is not None:
            logger.warning("database reachable again after %.1f s; gallery confirmed", now - self._outage[0])
        self._outage, self._is_stale_logged = None, False

    def _raise_if_stale(self, now: float, since: float, cause: DatabaseUnavailable) -> None:
        if self._version is not None and now - since < self._max_stale_s:
            return
        message = (
            f"database unreachable for {now - since:.1f} s (stale gallery limit {self._max_stale_s:.0f} s, "
            f"gallery version {self._version}): every face is denied"
        )
        if not self._is_stale_logged:
            logger.error("%s", message)
            self._is_stale_logged = True
        raise GalleryStale(message) from cause
