"""EdgeFace (Idiap, BSD-3-Clause) through timm and torch (runtime "edgeface"; optional `edgeface` extra).

The published `edgeface_*_q.pt` checkpoints are state dicts of a timm EdgeNeXt whose classifier is
reset to the embedding size, wrapped as attribute `model` and dynamically quantised (int8 `nn.Linear`).
Rebuilding that module and loading strictly is the authors' recipe; the checkpoint's stem width says
which EdgeNeXt it is, so XS and XXS share this loader.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

from recognition.bundle import ModelBundle
from recognition.embed.torch_module import (
    TorchModuleEmbedder,
    import_torch,
    load_state_dict_file,
    load_weights,
)
from recognition.errors import ModelLoadError

# timm EdgeNeXt variants by the output channels of their stem convolution (timm edgenext.py `dims[0]`).
EDGENEXT_BY_STEM_CHANNELS = {24: "edgenext_xx_small", 32: "edgenext_x_small", 48: "edgenext_small"}
_STEM_KEY = "model.stem.0.weight"


def load_edgeface(bundle: ModelBundle, weights_path: Path) -> TorchModuleEmbedder:
    """Build the EdgeNeXt the checkpoint was saved from, quantise it the same way, load it strictly.

    Runs on the CPU: dynamically quantised layers have no CUDA kernels.

    Raises:
        ModelLoadError: torch or timm is missing, or the file is not an EdgeFace int8 checkpoint.
    """
    torch = import_torch("edgeface", extra="edgeface")
    try:
        import timm
    except ImportError as exc:
        raise ModelLoadError("runtime 'edgeface' needs timm: pip install 'facegate[edgeface]'") from exc
    with warnings.catch_warnings():
        # torch 2.14 deprecates torch.ao.quantization and quantised tensors (removal planned); they are
        # still the only way to read the published int8 checkpoints, and results are unaffected.
        warnings.filterwarnings(
            "ignore", message="torch.ao.quantization is deprecated", category=DeprecationWarning
        )
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated", category=UserWarning)
        state = load_state_dict_file(torch, weights_path)
        backbone: Any = timm.create_model(_architecture(state, weights_path), pretrained=False)
        backbone.reset_classifier(bundle.embedding_dim)
        # A one-child Sequential named `model` has the authors' wrapper's keys and forward.
        wrapped = torch.nn.Sequential(OrderedDict(model=backbone))
        network = torch.ao.quantization.quantize_dynamic(wrapped, {torch.nn.Linear}, dtype=torch.qint8)
        load_weights(network, state, path=weights_path)
    return TorchModuleEmbedder(network, bundle=bundle, device=torch.device("cpu"))


def _architecture(state: dict[str, Any], path: Path) -> str:
    stem = state.get(_STEM_KEY)
    stem_channels = int(stem.shape[0]) if stem is not None else None
    if stem_channels not in EDGENEXT_BY_STEM_CHANNELS:
        raise ModelLoadError(
            f"{path}: not an EdgeFace checkpoint ({_STEM_KEY} has {stem_channels} channels; "
            f"known: {sorted(EDGENEXT_BY_STEM_CHANNELS)})"
        )
    return EDGENEXT_BY_STEM_CHANNELS[stem_channels]
