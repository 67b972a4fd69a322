"""The long-lived objects the HTTP routes use, built once by the composition root."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from enrollment import EnrollmentResult, EnrollmentSettings, GalleryService, Photo, enroll, enroll_new_person
from recognition import PresentationAttackDetector, Recognizer
from storage import Cipher, Engine, GalleryChangeFeed, Session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppServices:
    """Everything a request needs besides its own database session.

    The CLI (composition root) builds this from the settings and passes it to `create_app`.
    """

    engine: Engine
    keyring: Cipher
    recognizer: Recognizer
    enrollment: EnrollmentSettings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """Wall clock (timezone-aware UTC): key expiry and last use."""
    monotonic: Callable[[], float] = time.monotonic
    """Seconds for durations: the gallery's load progress and the backoff after a failed load."""
    recognizer_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held around every use of `recognizer`'s models in a request: OpenCV's DNN models are not
    thread-safe, and sync routes run in a thread pool (bench/api_load.py saw cv2 assertion errors
    without it). Never held over database work, which can wait on another transaction for seconds."""
    pad: PresentationAttackDetector | None = None
    """Enrollment's attack check (built when its PAD policy is enforce); None: no check."""
    gallery_feed: GalleryChangeFeed | None = None
    """Wakes device gallery syncs waiting for a change; None: each waiting request polls on its own."""
    gallery: GalleryService = field(init=False)
    """The one decrypted gallery /identify and the enrollment duplicate check search."""
    device_models_seen: set[tuple[str, str]] = field(default_factory=set)
    """(device key id, model id) of the gallery syncs that named another model than `recognizer`'s, each
    logged once (`note_device_model`)."""

    def __post_init__(self) -> None:
        gallery = GalleryService(self.keyring, self.recognizer, monotonic=self.monotonic)
        object.__setattr__(self, "gallery", gallery)

    def note_device_model(self, key_id: str, model_id: str) -> None:
        """Warn, once per device key and model in this process, that an edge gate syncs for another model
        than the API runs (it was not switched with it): its gallery holds only templates stored under its
        model, so people enrolled since the switch are denied at its doors."""
        if model_id == self.recognizer.model_id or (key_id, model_id) in self.device_models_seen:
            return
        self.device_models_seen.add((key_id, model_id))
        logger.warning(
            "edge gate of device key %s syncs its gallery for model %s, not the API's %s: it gets only "
            "templates stored under %s, so whoever is enrolled under %s alone is denied at its doors until "
            "it runs that model too",
            key_id,
            model_id,
            self.recognizer.model_id,
            model_id,
            self.recognizer.model_id,
        )

    def enroll(self, session: Session, *, person_id: int, photos: list[Photo]) -> EnrollmentResult:
        """enrollment.enroll with this process's keyring, models, settings, gallery and PAD check.

        Holds `recognizer_lock` around the models' work only. Raises what enrollment.enroll raises.
        """
        return enroll(
            session,
            self.keyring,
            self.recognizer,
            person_id=person_id,
            photos=photos,
            settings=self.enrollment,
            gallery=self.gallery,
            pad=self.pad,
            model_lock=self.recognizer_lock,
        )

    def enroll_new_person(
        self, session: Session, *, name: str, photos: list[Photo]
    ) -> tuple[int, EnrollmentResult]:
        """enrollment.enroll_new_person with the same parts as `enroll`; returns the new id and the result."""
        return enroll_new_person(
            session,
            self.keyring,
            self.recognizer,
            name=name,
            photos=photos,
            settings=self.enrollment,
            gallery=self.gallery,
            pad=self.pad,
            model_lock=self.recognizer_lock,
        )
