"""The long-lived objects the HTTP routes use, built once by the composition root."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from enrollment import EnrollmentSettings, GalleryService
from recognition import PresentationAttackDetector, Recognizer
from storage import Cipher, Engine, GalleryChangeFeed


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
    recognizer_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held around every use of `recognizer` in a request: OpenCV's DNN models are not thread-safe, and
    sync routes run in a thread pool (bench/api_load.py saw cv2 assertion errors without it)."""
    pad: PresentationAttackDetector | None = None
    """Enrollment's attack check (built when its PAD policy is enforce); None: no check."""
    gallery_feed: GalleryChangeFeed | None = None
    """Wakes device gallery syncs waiting for a change; None: each waiting request polls on its own."""
    gallery: GalleryService = field(init=False)
    """The one decrypted gallery /identify and the enrollment duplicate check search."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "gallery", GalleryService(self.keyring, self.recognizer))
