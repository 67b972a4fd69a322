"""Keeps a decrypted in-memory gallery and rebuilds it when the stored gallery version changes (A2)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from recognition import FaissFlatGallery, Recognizer
from storage import Cipher, Engine, gallery_version, iter_templates, session_scope

logger = logging.getLogger(__name__)


class GalleryCache:
    """Checks the version at most every `poll_s` seconds of the injected monotonic clock.

    A failed check or reload raises every time until one succeeds, so the gate never decides on
    a gallery it could not confirm (F3).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        keyring: Cipher,
        recognizer: Recognizer,
        poll_s: float,
        monotonic: Callable[[], float],
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self._recognizer = recognizer
        self._poll_s = poll_s
        self._monotonic = monotonic
        self._version: int | None = None
        self._checked_at = float("-inf")
        self._gallery = FaissFlatGallery(model_id=recognizer.model_id, dim=recognizer.embedder.dim)

    def current(self) -> FaissFlatGallery:
        now = self._monotonic()
        if now - self._checked_at < self._poll_s:
            return self._gallery
        with session_scope(self._engine) as session:
            version = gallery_version(session)
            if version == self._version:
                self._checked_at = now
                return self._gallery
            templates = iter_templates(session, self._keyring, model_id=self._recognizer.model_id)
            self._gallery = self._recognizer.new_gallery(
                (t.template_id, t.person_id, t.plaintext) for t in templates
            )
        self._version, self._checked_at = version, now
        logger.info("gallery version %d loaded: %d templates", version, len(self._gallery))
        return self._gallery
