"""Embedder for any ONNX model bundle through onnxruntime (runtime "onnx"): exports of our trainer and
third-party models, fed exactly as their bundle's `Preprocessing` says."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recognition.bundle import ModelBundle
from recognition.embed.described import BundleDescribedEmbedder
from recognition.embed.preprocess import network_input
from recognition.errors import ModelLoadError, RecognitionError
from recognition.onnx_session import ORT_ERRORS, open_session
from recognition.types import BgrImage

logger = logging.getLogger(__name__)


class OnnxBundleEmbedder(BundleDescribedEmbedder):
    """Runs one crop at a time, so models exported with a batch fixed at 1 work too."""

    def __init__(self, model_path: Path, *, bundle: ModelBundle) -> None:
        super().__init__(bundle)
        try:
            self._session = open_session(model_path)
        except ORT_ERRORS as exc:
            raise ModelLoadError(f"onnxruntime could not load {model_path}: {exc}") from exc
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self._check_input_shape(model_input.shape, model_path)
        self._check_output_shape(self._session.get_outputs()[0].shape, model_path)
        logger.debug("%s runs on %s", self.model_id, self._session.get_providers()[0])

    def _check_input_shape(self, shape: list[int | str | None], model_path: Path) -> None:
        width, height = self.bundle.preprocessing.input_size
        expected = [3, height, width]
        if len(shape) != 4 or any(
            isinstance(dim, int) and dim != want for dim, want in zip(shape[1:], expected, strict=True)
        ):
            raise ModelLoadError(
                f"{model_path}: input shape {shape} does not take N×{expected[0]}×{height}×{width} "
                f"as bundle {self.model_id} describes"
            )

    def _check_output_shape(self, shape: list[int | str | None], model_path: Path) -> None:
        """A graph whose per-face output size is fixed must give the bundle's dimension: else every face
        would fail at the door, after a start that looked healthy (a symbolic size is checked per face)."""
        per_face = shape[1:]
        if not all(isinstance(dim, int) for dim in per_face):
            return
        values = math.prod(int(dim) for dim in per_face if dim is not None)
        if values != self.dim:
            raise ModelLoadError(
                f"{model_path}: output shape {shape} gives {values} values per face, but bundle "
                f"{self.model_id} declares embedding_dim {self.dim}"
            )

    def embed(self, aligned_face: BgrImage) -> npt.NDArray[np.float32]:
        tensor = network_input(aligned_face, self.bundle.preprocessing)
        try:
            outputs = self._session.run(None, {self._input_name: tensor})
        except ORT_ERRORS as exc:
            raise RecognitionError(f"{self.model_id}: onnxruntime failed: {exc}") from exc
        return np.asarray(outputs[0], dtype=np.float32).reshape(-1)
