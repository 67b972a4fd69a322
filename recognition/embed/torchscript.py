"""Embedder for TorchScript exports of our trainer (runtime "torchscript"); torch is imported only when
one is loaded, so the door path stays torch-free (A3)."""

from __future__ import annotations

import warnings
from pathlib import Path

from recognition.bundle import ModelBundle
from recognition.embed.torch_module import TorchModuleEmbedder, import_torch
from recognition.errors import ModelLoadError


def load_torchscript_embedder(model_path: Path, *, bundle: ModelBundle) -> TorchModuleEmbedder:
    """The scripted module of `model_path`, run on CUDA when available.

    Raises:
        ModelLoadError: torch is missing or the file is not a TorchScript module.
    """
    torch = import_torch("torchscript", extra="train")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        with warnings.catch_warnings():
            # torch 2.14 deprecates TorchScript in favour of torch.export; its files still load the
            # same, and ONNX stays the runtime the door uses.
            warnings.filterwarnings(
                "ignore", message=r"`torch\.jit\.load` is deprecated", category=FutureWarning
            )
            module = torch.jit.load(str(model_path), map_location=device)
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"torch could not load TorchScript {model_path}: {exc}") from exc
    return TorchModuleEmbedder(module, bundle=bundle, device=device)
