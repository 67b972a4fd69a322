"""MobileFaceNet state dicts through torch (runtime "mobilefacenet_torch"): foamliu's published weights or
a fine-tuned copy, run by the same architecture class the trainer uses (`recognition.nets`)."""

from __future__ import annotations

from pathlib import Path

from recognition.bundle import ModelBundle
from recognition.embed.torch_module import (
    TorchModuleEmbedder,
    import_torch,
    load_state_dict_file,
    load_weights,
)


def load_mobilefacenet(bundle: ModelBundle, weights_path: Path) -> TorchModuleEmbedder:
    """Load a MobileFaceNet state dict strictly; runs on CUDA when torch sees a GPU.

    Raises:
        ModelLoadError: torch is missing, or the file does not fit `recognition.nets.MobileFaceNet`.
    """
    torch = import_torch("mobilefacenet_torch", extra="mtcnn")
    from recognition.nets import MobileFaceNet

    network = MobileFaceNet(embedding_dim=bundle.embedding_dim)
    load_weights(network, load_state_dict_file(torch, weights_path), path=weights_path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return TorchModuleEmbedder(network, bundle=bundle, device=device)
