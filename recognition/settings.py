"""Recognition settings: which detector and embedder run, and their limits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class YunetConfig(BaseModel):
    """YuNet through cv2.FaceDetectorYN (the default; no torch)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["yunet"] = "yunet"
    score_threshold: float = Field(0.7, ge=0.0, le=1.0, description="Minimum detection score.")
    nms_threshold: float = Field(0.3, ge=0.0, le=1.0, description="IoU for non-maximum suppression.")
    max_detect_side_px: int = Field(
        960,
        ge=160,
        description="Frames are downscaled so their longer side is at most this before detection.",
    )


class MtcnnConfig(BaseModel):
    """facenet-pytorch MTCNN (optional `mtcnn` extra; torch is imported lazily)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["mtcnn"] = "mtcnn"
    min_probability: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="Faces below this probability are dropped (0.95 removes known false positives).",
    )
    min_face_px: int = Field(20, ge=8, description="Smallest face MTCNN searches for, in pixels.")


class SfaceConfig(BaseModel):
    """SFace (OpenCV Zoo, int8) through cv2.FaceRecognizerSF: 128-d, LFW 99.4%."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["sface"] = "sface"
    cos_threshold: float = Field(
        0.363,
        ge=-1.0,
        le=1.0,
        description="Cosine at or above which two faces are the same person (OpenCV Zoo).",
    )


DetectorConfig = Annotated[YunetConfig | MtcnnConfig, Field(discriminator="kind")]
EmbedderConfig = Annotated[SfaceConfig, Field(discriminator="kind")]


class ImageLimits(BaseModel):
    """Bounds on untrusted image input."""

    model_config = ConfigDict(extra="forbid")
    max_image_bytes: int = Field(20_000_000, gt=0, description="Largest accepted file, in bytes.")
    max_image_pixels: int = Field(40_000_000, gt=0, description="Largest accepted width×height, in pixels.")


class RecognitionSettings(BaseSettings):
    """Environment: FACEGATE_RECOGNITION_*, nested keys with `__`."""

    model_config = SettingsConfigDict(
        env_prefix="FACEGATE_RECOGNITION_", env_nested_delimiter="__", extra="forbid"
    )
    model_dir: Path | None = Field(None, description="Directory searched first for model files.")
    allow_model_download: bool = Field(
        True, description="Download a pinned model file when no local copy exists (last resort)."
    )
    detector: DetectorConfig = Field(default_factory=YunetConfig)
    embedder: EmbedderConfig = Field(default_factory=SfaceConfig)
    limits: ImageLimits = Field(default_factory=ImageLimits)
