"""Enrollment settings: what makes a face usable, and when faces of two people sit too close.

The quality defaults were chosen from measurements (recognition.measure_face, YuNet landmarks) on
7,701 LFW photos, the face_recognition knn_examples train photos and the six faces of insightface's
t1.jpg: together they refuse 1.1% of LFW, mostly faces turned past 45°, and every knn_examples photo
passes.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class EnrollmentSettings(BaseSettings):
    """Environment: FACEGATE_ENROLLMENT_*."""

    model_config = SettingsConfigDict(
        env_prefix="FACEGATE_ENROLLMENT_", env_nested_delimiter="__", extra="forbid"
    )
    min_face_px: int = Field(
        60, ge=16, description="Shorter side of the face box, in pixels, below which a face is too small."
    )
    max_photos: int = Field(20, ge=1, le=200, description="Most photos accepted in one enrollment request.")
    min_sharpness_laplacian_var: float = Field(
        25.0,
        ge=0.0,
        description=(
            "Variance of the Laplacian over the face region of the aligned 112×112 grey crop below which "
            "a face is too blurred. LFW: 0.1% below 21, 1% below 42, median 155; knn_examples ≥ 650; "
            "t1.jpg faces ≥ 220, 21–46 after a Gaussian blur of sigma 1.5, 12–22 at sigma 2.5. "
            "25 refuses 0.2% of LFW (visibly blurred) and a sigma-2.5 blur."
        ),
    )
    max_abs_yaw_deg: float = Field(
        45.0,
        gt=0.0,
        le=90.0,
        description=(
            "Largest left-right head turn, in degrees from the landmarks. LFW: median 10°, 99% within "
            "44°, near-profiles read 65–78°; knn_examples within 21°; t1.jpg 5–41°, and 65° for the man "
            "in three-quarter profile, which is refused. 45 refuses 0.9% of LFW."
        ),
    )
    max_abs_pitch_deg: float = Field(
        30.0,
        gt=0.0,
        le=90.0,
        description=(
            "Largest up-down head tilt, in degrees from the landmarks. LFW: 99% within 13°, all within "
            "23°; knn_examples and t1.jpg within 10°. 30 refuses only clearly raised or lowered heads."
        ),
    )
    min_mean_grey_level: float = Field(
        40.0,
        ge=0.0,
        le=255.0,
        description=(
            "Mean brightness (0..255) of the face region below which a face is underexposed. LFW: all "
            "at or above 45, 0.1% below 58; the t1.jpg faces darkened to 20% read 30–37."
        ),
    )
    max_mean_grey_level: float = Field(
        220.0,
        ge=0.0,
        le=255.0,
        description=(
            "Mean brightness (0..255) of the face region above which a face is overexposed. LFW: all at "
            "or below 208; t1.jpg faces with +120 added read 241–250."
        ),
    )
    max_clipped_fraction: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description=(
            "Largest fraction of the face region clipped to black (≤5) or white (≥250). LFW: 99.9% at "
            "or below 0.13, all at or below 0.21; blown-out copies of the t1.jpg faces 0.53–0.85."
        ),
    )
    min_detector_score: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description=(
            "Detector confidence (0..1) below which a face is refused. YuNet: LFW all at or above 0.86, "
            "test photos at or above 0.9; its own detection cut-off is 0.7. MTCNN reports 0.95 and more."
        ),
    )
    allow_duplicates: bool = Field(
        True,
        description=(
            "Enroll a photo whose face already matches a different enrolled person at or above the "
            "model's threshold, reporting it as a possible duplicate; false refuses such a request."
        ),
    )
    confusable_margin_cos: float = Field(
        0.03,
        ge=0.0,
        le=1.0,
        description=(
            "Two enrolled people are listed as confusable when their closest templates score at or "
            "above the model's match threshold minus this margin (cosine). SFace (threshold 0.363): "
            "0.333 is reached by 0.1% of LFW's different-person pairs (99th percentile 0.283)."
        ),
    )

    pad_policy: Literal["off", "enforce"] = Field(
        "off",
        description="enforce: refuse a photo the PAD stage calls a presentation attack (needs the PAD model, "
        "`facegate pad export`); off: no check.",
    )
    pad_bpcer_target: float = Field(
        0.01, gt=0.0, lt=1.0, description="BPCER the PAD threshold is taken at (from the PAD calibration)."
    )
    allow_pad_face_filling: bool = Field(
        True,
        description="With PAD enforced, judge a photo whose face fills it (a tight headshot) by its score; "
        "false: refuse it and ask for one with background around the face, as the gate asks a person to "
        "step back. The face-fill crop hardly tells attacks from live faces (BENCHMARKS.md, issue 13).",
    )

    @model_validator(mode="after")
    def _exposure_bounds_ordered(self) -> Self:
        if self.min_mean_grey_level >= self.max_mean_grey_level:
            raise ValueError("min_mean_grey_level must be below max_mean_grey_level")
        return self
