"""Gate settings: the decision rule and how often the gallery is re-checked."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GateSettings(BaseSettings):
    """Environment: FACEGATE_GATE_*."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_GATE_", extra="forbid")
    votes_required: int = Field(
        3, ge=1, description="k: frames of one track that must agree before deciding."
    )
    vote_window_frames: int = Field(
        5, ge=1, description="n: the most recent frames of a track that are counted."
    )
    track_iou_min: float = Field(0.3, gt=0.0, le=1.0, description="Box overlap that continues a track.")
    track_max_missed_frames: int = Field(5, ge=0, description="Frames a track survives without being seen.")
    gallery_poll_s: float = Field(2.0, gt=0.0, description="How often the gallery version is checked.")
    unlock_s: float = Field(5.0, gt=0.0, description="How long the door stays unlocked after a grant.")

    @model_validator(mode="after")
    def _k_within_n(self) -> GateSettings:
        if self.votes_required > self.vote_window_frames:
            raise ValueError("votes_required (k) must not exceed vote_window_frames (n)")
        return self
