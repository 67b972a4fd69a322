"""Enrollment settings: what makes a face usable."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EnrollmentSettings(BaseSettings):
    """Environment: FACEGATE_ENROLLMENT_*."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_ENROLLMENT_", extra="forbid")
    min_face_px: int = Field(
        60, ge=16, description="Shorter side of the face box, in pixels, below which a face is too small."
    )
    max_photos: int = Field(20, ge=1, le=200, description="Most photos accepted in one enrollment request.")
