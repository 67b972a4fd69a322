"""InsightFace ArcFace-family ONNX recognisers through `insightface.model_zoo.ArcFaceONNX` (runtime
"insightface_arcface"): w600k_r50, w600k_mbf and any model that follows their conventions.

InsightFace's own weights are non-commercial and none ships here: a licence holder writes a bundle for
their file. ArcFaceONNX reads the normalisation from the graph (an MXNet export normalises inside, others
take (x − 127.5) / 127.5 RGB); the bundle must say the same, so thresholds are never calibrated on one
input and used on another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recognition.bundle import ModelBundle, Preprocessing
from recognition.detect.scrfd import import_model_zoo
from recognition.embed.described import BundleDescribedEmbedder
from recognition.errors import ModelLoadError, RecognitionError
from recognition.onnx_session import ORT_ERRORS, open_session
from recognition.types import BgrImage

_PIXEL_MAX = 255.0


class InsightfaceArcfaceEmbedder(BundleDescribedEmbedder):
    """ArcFaceONNX.get_feat on one crop; a crop other than the model's input size is resized by it."""

    def __init__(self, model_path: Path, *, bundle: ModelBundle) -> None:
        model_zoo = import_model_zoo()
        try:
            self._model: Any = model_zoo.ArcFaceONNX(
                model_file=str(model_path), session=open_session(model_path)
            )
        except ORT_ERRORS as exc:
            raise ModelLoadError(f"insightface could not load {model_path}: {exc}") from exc
        _check_conventions(self._model, bundle, model_path)
        super().__init__(bundle)

    def embed(self, aligned_face: BgrImage) -> npt.NDArray[np.float32]:
        try:
            feature = self._model.get_feat(aligned_face)
        except ORT_ERRORS as exc:
            raise RecognitionError(f"{self.model_id}: onnxruntime failed: {exc}") from exc
        return np.asarray(feature, dtype=np.float32).reshape(-1)


def _conventions(model: Any) -> Preprocessing:
    """What ArcFaceONNX feeds this graph, as a Preprocessing."""
    mean, std = model.input_mean / _PIXEL_MAX, model.input_std / _PIXEL_MAX
    return Preprocessing(
        input_size=tuple(model.input_size),
        colour_order="rgb",
        mean=(mean, mean, mean),
        std=(std, std, std),
        in_graph=model.input_mean == 0.0,
    )


def _check_conventions(model: Any, bundle: ModelBundle, model_path: Path) -> None:
    expected = _conventions(model)
    described = bundle.preprocessing
    same = (
        described.input_size == expected.input_size
        and described.colour_order == expected.colour_order
        and described.in_graph == expected.in_graph
        and (described.in_graph or np.allclose(described.mean + described.std, expected.mean + expected.std))
    )
    if not same:
        raise ModelLoadError(
            f"{model_path}: insightface feeds this graph {expected.model_dump()}, "
            f"but bundle {bundle.model_id} describes {described.model_dump()}"
        )
