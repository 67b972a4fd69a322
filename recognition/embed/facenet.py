"""FaceNet (InceptionResnetV1) from facenet-pytorch (runtime "facenet_pytorch"; optional `mtcnn` extra).

Weights are a local state dict named by a bundle in the bundle directories, with the sha256 of that
file: no bundle is built in, because the hash of facenet-pytorch's VGGFace2 release file
(`20180402-114759-vggface2.pt`, 107 MB, not in the shared data) could not be checked here, and
facenet-pytorch's own `pretrained='vggface2'` downloads without any hash check, which C5 rules out.
Whoever holds the file writes `DIR/facenet-vggface2/bundle.json` pinning the hash of the copy they
verified. Its bundle sets a 160×160 input (the crop, aligned on the ArcFace template, is resized, i.e.
the template scaled to 160), RGB and (x − 127.5) / 128, facenet-pytorch's `fixed_image_standardization`.
"""

from __future__ import annotations

from pathlib import Path

from recognition.bundle import ModelBundle
from recognition.embed.torch_module import (
    TorchModuleEmbedder,
    import_torch,
    load_state_dict_file,
    load_weights,
)
from recognition.errors import ModelLoadError

# The VGGFace2 / CASIA-WebFace checkpoints keep the training classifier (8631 / 10575 identities).
_CLASSIFIER_KEY = "logits.weight"


def load_facenet(bundle: ModelBundle, weights_path: Path) -> TorchModuleEmbedder:
    """Load an InceptionResnetV1 state dict strictly; runs on CUDA when torch sees a GPU.

    Raises:
        ModelLoadError: torch or facenet-pytorch is missing, or the file does not fit InceptionResnetV1.
    """
    torch = import_torch("facenet_pytorch", extra="mtcnn")
    try:
        from facenet_pytorch import InceptionResnetV1
    except ImportError as exc:
        raise ModelLoadError(
            "runtime 'facenet_pytorch' needs facenet-pytorch: pip install 'facegate[mtcnn]'"
        ) from exc
    state = load_state_dict_file(torch, weights_path)
    network = InceptionResnetV1(pretrained=None, classify=False)
    if _CLASSIFIER_KEY in state:
        # Room for the classifier, as facenet-pytorch does, so the load stays strict; with
        # classify=False the forward pass never uses it.
        classes, features = state[_CLASSIFIER_KEY].shape
        network.logits = torch.nn.Linear(int(features), int(classes))
    load_weights(network, state, path=weights_path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return TorchModuleEmbedder(network, bundle=bundle, device=device)
