"""The long-lived objects the HTTP routes use, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from enrollment import EnrollmentSettings
from recognition import Recognizer
from storage import Cipher, Engine


@dataclass(frozen=True)
class AppServices:
    """Everything a request needs besides its own database session.

    The CLI (composition root) builds this from the settings and passes it to `create_app`.
    """

    engine: Engine
    keyring: Cipher
    recognizer: Recognizer
    enrollment: EnrollmentSettings
