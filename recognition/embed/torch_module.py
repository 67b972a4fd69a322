"""One embedder for every PyTorch model built in Python (EdgeFace, MobileFaceNet, FaceNet): the runtimes
differ only in how they build the network, so each runtime module builds it and hands it over here.
torch is imported only inside these functions, so the door path stays torch-free (A3)."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from recognition.bundle import ModelBundle
from recognition.embed.described import BundleDescribedEmbedder
from recognition.embed.preprocess import network_input
from recognition.errors import ModelLoadError, RecognitionError
from recognition.types import BgrImage


def import_torch(runtime: str, *, extra: str) -> ModuleType:
    """torch, or a ModelLoadError that names the extra to install.

    Raises:
        ModelLoadError: torch is not installed.
    """
    try:
        import torch
    except ImportError as exc:
        raise ModelLoadError(f"runtime {runtime!r} needs torch: pip install 'facegate[{extra}]'") from exc
    return torch


def load_state_dict_file(torch: ModuleType, path: Path) -> dict[str, Any]:
    """A plain state dict from `path`, read with `weights_only` (no pickled code runs).

    Raises:
        ModelLoadError: the file is not a loadable state dict.
    """
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError) as exc:
        raise ModelLoadError(f"torch could not read {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def load_weights(module: Any, state: dict[str, Any], *, path: Path) -> None:
    """Load every tensor of `state` into `module`, strictly: a missing or extra key is an error.

    Raises:
        ModelLoadError: the keys or shapes do not match the architecture.
    """
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError) as exc:  # quantised layers raise KeyError for a missing key
        raise ModelLoadError(f"{path}: weights do not fit the architecture: {exc!r}") from exc


class TorchModuleEmbedder(BundleDescribedEmbedder):
    """Runs a built `torch.nn.Module` in eval mode on one crop at a time, fed as the bundle says."""

    def __init__(self, module: Any, *, bundle: ModelBundle, device: Any) -> None:
        """
        Args:
            module: the network with its weights loaded; moved to `device` and put in eval mode.
            bundle: the model's description (preprocessing, dimension, threshold).
            device: a `torch.device`; dynamically quantised models run only on the CPU.
        """
        import torch

        super().__init__(bundle)
        self._torch: Any = torch
        self._device = device
        self._module = module.to(device).eval()

    def embed(self, aligned_face: BgrImage) -> npt.NDArray[np.float32]:
        tensor = self._torch.from_numpy(network_input(aligned_face, self.bundle.preprocessing)).to(
            self._device
        )
        try:
            with self._torch.inference_mode():
                output = self._module(tensor)
        except RuntimeError as exc:
            raise RecognitionError(f"{self.model_id}: torch forward failed: {exc}") from exc
        return np.asarray(output.float().cpu().numpy(), dtype=np.float32).reshape(-1)
