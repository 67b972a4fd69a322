"""TrainConfig: everything a run depends on, validated once, loaded from TOML with overrides (H1)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.errors import TrainingError

MixedPrecision = Literal["auto", "off", "float16", "bfloat16"]

Mining = Literal["none", "batch_hard", "semi_hard", "multi_similarity", "distance_weighted"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where the identity folders are and how they become training and validation crops."""

    data_dir: Path = Field(description="Folder of identity subfolders holding photos (or aligned crops).")
    cache_dir: Path | None = Field(
        None, description="Where aligned 112×112 crops are cached; default: RUN_DIR/../crops-<folder name>."
    )
    is_aligned: bool = Field(
        False, description="Photos are already 112×112 ArcFace-template crops: skip detection and alignment."
    )
    exclude_identities: tuple[str, ...] = Field(
        (), description="Identity folder names left out entirely (e.g. those that may overlap the test set)."
    )
    min_images_per_identity: int = Field(
        2, ge=2, description="Identities with fewer usable crops are dropped (they cannot form a positive)."
    )
    max_identities: int | None = Field(None, ge=2, description="Use only the first N identities (by name).")
    val_identities: int = Field(
        20, ge=2, description="Identities held out for validation; disjoint from the training identities."
    )
    report_identities: int = Field(
        0,
        ge=0,
        description="Identities held out from training and from validation (which picks the exported "
        "state): the exported state and the initial one are measured on them once, into RUN/report.json, so "
        "the reported gain is not chosen on the identities that report it; 0: none.",
    )


class AugmentConfig(_Strict):
    """Random changes applied to each training crop (never to validation crops)."""

    flip_probability: float = Field(0.5, ge=0.0, le=1.0, description="Chance of a horizontal flip.")
    colour_jitter: float = Field(
        0.2, ge=0.0, le=1.0, description="Brightness, contrast and saturation jitter (torchvision fraction)."
    )
    crop_min_scale: float = Field(
        0.9, gt=0.0, le=1.0, description="Smallest area fraction of a random resized crop; 1 disables it."
    )
    blur_probability: float = Field(0.1, ge=0.0, le=1.0, description="Chance of a 5×5 Gaussian blur.")


class BackboneConfig(_Strict):
    """The embedding network and where its initial weights come from."""

    kind: Literal["mobilefacenet", "resnet", "torchvision", "timm"] = Field(
        "mobilefacenet",
        description="MobileFaceNet (recognition.nets); resnet: torchvision ResNet adapted to 112 px with "
        "insightface's embedding head; or an unmodified torchvision/timm classifier body.",
    )
    name: str = Field(
        "",
        description="resnet18/34/50 for kind resnet, or a torchvision or timm model name; unused for "
        "mobilefacenet.",
    )
    embedding_dim: int = Field(128, ge=8, le=4096, description="Length of the embedding vector.")
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout before the embedding layer (kind resnet only)."
    )
    init_weights: Path | None = Field(
        None,
        description="Start from these weights: a state dict (.pt), a trainer checkpoint, or an exported "
        "bundle directory (its model.ts).",
    )


class ArcFaceConfig(_Strict):
    """Additive angular margin (Deng et al. 2019), pytorch-metric-learning's ArcFaceLoss."""

    kind: Literal["arcface"] = "arcface"
    margin_deg: float = Field(28.6, ge=0.0, le=90.0, description="Angular margin in degrees (0.5 rad).")
    scale: float = Field(64.0, gt=0.0, description="Logit scale s.")


class CosFaceConfig(_Strict):
    """Additive cosine margin (Wang et al. 2018), pytorch-metric-learning's CosFaceLoss."""

    kind: Literal["cosface"] = "cosface"
    margin_cos: float = Field(0.35, ge=0.0, le=1.0, description="Cosine margin m.")
    scale: float = Field(64.0, gt=0.0, description="Logit scale s.")


class TripletConfig(_Strict):
    """Triplet margin loss on cosine similarity, with a miner (or a curriculum of two) choosing triplets."""

    kind: Literal["triplet"] = "triplet"
    margin_cos: float = Field(
        0.2, ge=0.0, le=2.0, description="Gap required between positive and negative (0 with a soft margin)."
    )
    mining: Mining = Field(
        "batch_hard",
        description="batch_hard: hardest positive and negative per anchor; semi_hard: negatives inside the "
        "margin; multi_similarity, distance_weighted (pytorch-metric-learning); none: all triplets.",
    )
    is_soft_margin: bool = Field(
        False, description="softplus instead of the hinge (Hermans et al. 2017's soft margin)."
    )
    warmup_mining: Mining | None = Field(
        None, description="Curriculum: mine like this first (e.g. semi_hard, or none for a warm start)."
    )
    warmup_mining_epochs: float = Field(
        0.0, ge=0.0, description="Epochs of warmup_mining before switching to `mining`."
    )

    @model_validator(mode="after")
    def _curriculum_is_complete(self) -> TripletConfig:
        if (self.warmup_mining is None) != (self.warmup_mining_epochs == 0.0):
            raise ValueError("warmup_mining and warmup_mining_epochs > 0 must be set together")
        return self


LossConfig = Annotated[ArcFaceConfig | CosFaceConfig | TripletConfig, Field(discriminator="kind")]


class OptimConfig(_Strict):
    """Optimiser, learning-rate schedule and stopping rules."""

    optimizer: Literal["sgd", "adamw"] = Field("adamw", description="SGD with momentum 0.9, or AdamW.")
    learning_rate: float = Field(1e-3, gt=0.0, description="Peak learning rate after warm-up.")
    head_learning_rate_multiplier: float = Field(
        10.0, gt=0.0, description="Margin-head weights learn this much faster (they start random)."
    )
    weight_decay: float = Field(5e-4, ge=0.0, description="Decoupled (AdamW) or L2 (SGD) weight decay.")
    warmup_epochs: float = Field(1.0, ge=0.0, description="Linear warm-up from 0 to the peak rate.")
    epochs: int = Field(20, ge=1, description="Length of the cosine schedule in epochs.")
    max_wall_minutes: float | None = Field(
        None, gt=0.0, description="Stop after the step that passes this many wall minutes."
    )
    max_cpu_minutes: float | None = Field(
        None,
        gt=0.0,
        description="Stop after the step that passes this many minutes of this process's CPU time (all its "
        "threads, not DataLoader workers): an equal budget on a machine whose load varies.",
    )
    validate_every_steps: int | None = Field(
        None, ge=1, description="Also validate every N steps inside an epoch (val.csv: accuracy over time)."
    )
    grad_clip_norm: float | None = Field(5.0, gt=0.0, description="Clip the global gradient L2 norm.")
    freeze_body_epochs: float = Field(
        0.0,
        ge=0.0,
        description="Fine-tuning: train only the margin head for this many epochs (the body keeps its "
        "weights and BatchNorm statistics), then the whole network at learning_rate.",
    )
    head_init: Literal["random", "imprint"] = Field(
        "random",
        description="Margin head's class centres at the start: random, or imprinted (Qi et al. 2018) with "
        "each training identity's normalised mean embedding under the initial body, in eval mode.",
    )
    is_batchnorm_frozen: bool = Field(
        False,
        description="Keep every BatchNorm layer in eval mode for the whole run: the running statistics "
        "(e.g. a pretrained body's) normalise training batches too and are never updated.",
    )
    best_state_from: Literal["any_validation", "epoch_ends"] = Field(
        "any_validation",
        description="Which validations may pick the exported state: any (mid-epoch ones from "
        "validate_every_steps too), or only an epoch's end (tables measured before mid-epoch states could be "
        "exported are reproduced with this).",
    )
    is_start_validated: bool = Field(
        True,
        description="Validate the initial state (step 0) before the first step, as a candidate for the "
        "exported state like any other validation: a fine-tune that never beats its pretrained start "
        "exports the start. Off: only states after training steps are candidates (as before).",
    )
    early_stop_patience_epochs: int | None = Field(
        5, ge=1, description="Stop when validation accuracy has not improved for this many epochs."
    )


class TrainConfig(_Strict):
    """A complete training run."""

    data: DataConfig
    augment: AugmentConfig = AugmentConfig()
    backbone: BackboneConfig = BackboneConfig()
    loss: LossConfig = ArcFaceConfig()
    optim: OptimConfig = OptimConfig()
    batch_size: int = Field(64, ge=4, description="Images per batch (identities × images_per_identity).")
    images_per_identity: int = Field(4, ge=2, description="M images of each identity in a batch.")
    mean: tuple[float, float, float] = Field(
        (0.5, 0.5, 0.5), description="Per-channel RGB mean after /255 (exported in bundle.json)."
    )
    std: tuple[float, float, float] = Field(
        (0.5, 0.5, 0.5), description="Per-channel RGB std after /255 (exported in bundle.json)."
    )
    device: str = Field("auto", description="'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'.")
    mixed_precision: MixedPrecision = Field(
        "auto",
        description="Autocast of the training step: 'auto' (float16 on CUDA, off on the CPU), 'off', "
        "'float16' (CUDA only) or 'bfloat16' (on the CPU: several times faster with AVX512-BF16 or AMX).",
    )
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default: torch's choice.")
    seed: int = Field(0, ge=0, description="Seeds Python, numpy and torch; recorded in the run directory.")
    log_every_steps: int = Field(10, ge=1, description="Progress line interval when not in a terminal.")
    bundle_name: str = Field(
        "facegate-trained", pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Name of the exported bundle."
    )
    training_data_description: str = Field(
        "", description="What the training data is and its terms, copied into bundle.json's training_data."
    )
    licence: str = Field(
        "", description="Licence of the exported weights; must reflect the training data's terms."
    )

    @model_validator(mode="after")
    def _head_options_need_a_head(self) -> TrainConfig:
        if not isinstance(self.loss, TripletConfig):
            return self
        if self.optim.freeze_body_epochs > 0:
            raise ValueError("optim.freeze_body_epochs needs a margin head (arcface or cosface) to train")
        if self.optim.head_init != "random":
            raise ValueError("optim.head_init needs a margin head (arcface or cosface) to imprint")
        return self


def load_config(path: Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from a TOML file (optional) with dotted-key overrides applied on top.

    Args:
        path: TOML file with the TrainConfig sections, or None.
        overrides: e.g. {"optim.epochs": 3, "data.data_dir": "faces/"}; None values are ignored.

    Raises:
        TrainingError: the file cannot be read or parsed.
        pydantic.ValidationError: the resulting configuration is invalid (every error with its path).
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TrainingError(f"{path}: cannot read the training configuration: {exc}") from exc
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return TrainConfig.model_validate(raw)
