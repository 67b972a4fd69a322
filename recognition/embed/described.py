"""The Embedder attributes every implementation reads from its bundle (D5: the threshold is the model's)."""

from __future__ import annotations

from recognition.bundle import ModelBundle


class BundleDescribedEmbedder:
    """Base of the embedders: id, weights hash, dimension and default threshold come from the bundle."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self.model_id = bundle.model_id
        self.weights_sha256 = bundle.weights_sha256
        self.dim = bundle.embedding_dim
        self.cos_threshold = bundle.default_cos_threshold
