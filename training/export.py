"""Export: the best weights become a model bundle the product loads by name (D5).

`NAME/` holds `model.onnx` (what `facegate` runs, runtime "onnx"), `model.ts` (TorchScript, for
fine-tuning and torch users) and `bundle.json` with preprocessing, licence, provenance and thresholds
calibrated on the validation identities' pairs.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from recognition import (
    ALIGNED_SIZE_PX,
    CALIBRATED_FARS,
    ModelBundle,
    Preprocessing,
    calibrate,
    sha256_of,
    write_bundle_file,
)
from training.checkpoint import TORCHSCRIPT_FILE
from training.config import TrainConfig
from training.errors import DatasetError
from training.validation import ValidationResult

ONNX_FILE = "model.onnx"
BUNDLE_FILE = "bundle.json"
ONNX_OPSET = 17
# Threshold the gate uses when no FAR target is configured: calibrated at this false-match rate.
DEFAULT_FAR = 1e-3


def write_onnx(
    model: nn.Module, path: Path, *, input_side_px: int = ALIGNED_SIZE_PX, output_name: str = "embedding"
) -> None:
    """ONNX, dynamic batch: input `input` N×3×S×S float32 (S = input_side_px), output `output_name` N×D."""
    example = torch.zeros(2, 3, input_side_px, input_side_px)
    tmp_path = path.with_name(f".{path.name}.tmp")
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of torch.export's, which needs
        # onnxscript; the legacy one handles these plain convolutional graphs exactly.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(tmp_path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["input"],
            output_names=[output_name],
            dynamic_axes={"input": {0: "batch"}, output_name: {0: "batch"}},
        )
    tmp_path.replace(path)


def write_torchscript(model: nn.Module, path: Path) -> None:
    """A traced TorchScript module with the same input and output as the ONNX file."""
    example = torch.zeros(2, 3, ALIGNED_SIZE_PX, ALIGNED_SIZE_PX)
    with torch.no_grad(), warnings.catch_warnings():
        # torch 2.14 marks TorchScript deprecated; it still loads in every torch this project pins
        # and is the one-file format torch users and `init_weights` read.
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, example)  # type: ignore[no-untyped-call]
    tmp_path = path.with_name(f".{path.name}.tmp")
    traced.save(str(tmp_path))
    tmp_path.replace(path)


def export_bundle(
    model: nn.Module,
    *,
    config: TrainConfig,
    validation: ValidationResult,
    out_dir: Path,
    version: str,
    source: str,
    command: str,
) -> Path:
    """Write `out_dir/config.bundle_name/` with model.onnx, model.ts and bundle.json; returns that directory.

    Args:
        model: the trained embedding network (copied to the CPU in eval mode; the original is untouched).
        validation: genuine and impostor scores of the validation identities (the calibration data).
        version: bundle version, e.g. the run directory name and the best epoch; the exported weights'
            sha256 (first 8 hex digits) is appended, so two runs exported under one name and version
            never share a template model id (templates of one would be compared with the other's).
        source: provenance written into bundle.json (trainer run, git revision).
        command: the command that reproduces the run (recorded with the calibration).

    Raises:
        DatasetError: too few impostor pairs to calibrate any threshold.
    """
    if len(validation.impostor) < round(1 / max(CALIBRATED_FARS)):  # so calibrate() gives a threshold
        raise DatasetError(
            f"{len(validation.impostor)} impostor pairs cannot calibrate a threshold at FAR "
            f"{max(CALIBRATED_FARS):g}: hold out more validation identities"
        )
    calibration = calibrate(
        validation.genuine,
        validation.impostor,
        command=command,
        dataset=f"held-out identities of {config.data.data_dir.name}: every same- and cross-identity pair",
    )
    usable = [p for p in calibration.thresholds if p.far <= DEFAULT_FAR] or calibration.thresholds
    bundle_dir = out_dir / config.bundle_name
    bundle_dir.mkdir(parents=True, exist_ok=True)
    cpu_model = copy.deepcopy(model).cpu().eval()
    write_onnx(cpu_model, bundle_dir / ONNX_FILE)
    write_torchscript(cpu_model, bundle_dir / TORCHSCRIPT_FILE)
    weights_sha256 = sha256_of(bundle_dir / ONNX_FILE)
    bundle = ModelBundle(
        name=config.bundle_name,
        version=f"{version}-{weights_sha256[:8]}",
        runtime="onnx",
        weights_file=ONNX_FILE,
        weights_sha256=weights_sha256,
        preprocessing=Preprocessing(
            input_size=(ALIGNED_SIZE_PX, ALIGNED_SIZE_PX),
            colour_order="rgb",
            mean=config.mean,
            std=config.std,
        ),
        embedding_dim=config.backbone.embedding_dim,
        licence=config.licence or "unspecified: set `licence` to what the training data's terms allow",
        source=source,
        training_data=config.training_data_description or str(config.data.data_dir),
        default_cos_threshold=float(np.round(usable[0].cos_threshold, 6)),
        calibration=calibration,
    )
    write_bundle_file(bundle, bundle_dir / BUNDLE_FILE)
    return bundle_dir
