"""The enrolled gallery for requests: one decrypted copy per process, kept current from the change log."""

from __future__ import annotations

import threading
import time

from enrollment.errors import GalleryLoading
from recognition import Gallery, GallerySync, Recognizer
from storage import Cipher, Session, StoredGallery, iter_templates

_LOAD_CHECK_S = 0.1
"""How often a request waiting for the gallery looks whether it waits for a full load."""


class GalleryService:
    """Serves /identify and the enrollment duplicate check from one gallery (no rebuild per request).

    Each call checks the stored version in the caller's session and applies what changed since (a
    full load only the first time, or when the change log cannot say). Thread-safe: one call changes
    the gallery at a time; the others wait for a change from the log (milliseconds), not for a full load.
    """

    def __init__(self, keyring: Cipher, recognizer: Recognizer) -> None:
        self._keyring = keyring
        self._recognizer = recognizer
        self._sync = GallerySync(recognizer, monotonic=time.monotonic)
        self._lock = threading.Lock()

    def current(self, session: Session) -> Gallery:
        """The gallery as of the session's stored version.

        Raises:
            GalleryLoading: another call is loading the gallery in full.
            StorageError: the stored gallery cannot be read or decrypted.
            RecognitionError: a stored template does not fit the model.
        """
        while not self._lock.acquire(timeout=_LOAD_CHECK_S):
            if self._sync.is_loading:
                raise GalleryLoading(
                    "the gallery is being loaded in full (its first use since the server started, or a "
                    "reload the change log cannot give); retry in a few seconds"
                )
        try:
            self._sync.refresh(StoredGallery(session, self._keyring, model_id=self._recognizer.model_id))
            return self._sync.gallery
        finally:
            self._lock.release()


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
