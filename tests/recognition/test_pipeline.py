"""Recognizer's own checks on stage outputs, and its gallery built from stored bytes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from recognition import (
    ImageLimits,
    ModelMismatchError,
    RecognitionError,
    Recognizer,
    vector_to_bytes,
)
from tests.data import group_photo
from tests.fakes import fake_bundle


class FakeConstantEmbedder:
    """Returns a fixed vector, so the pipeline's validation of embedder output can be exercised."""

    def __init__(self, vector: np.ndarray, *, dim: int) -> None:
        self.bundle = fake_bundle(name="fake-constant", dim=dim)
        self.model_id = self.bundle.model_id
        self.weights_sha256 = self.bundle.weights_sha256
        self.dim = dim
        self.cos_threshold = self.bundle.default_cos_threshold
        self._vector = vector

    def embed(self, aligned_face: np.ndarray) -> np.ndarray:
        assert aligned_face.shape == (112, 112, 3)
        return self._vector


def _with_embedder(recognizer: Recognizer, embedder: FakeConstantEmbedder) -> Recognizer:
    return Recognizer(detector=recognizer.detector, embedder=embedder, limits=ImageLimits())


def test_embedding_of_the_wrong_length_is_a_model_mismatch(recognizer: Recognizer) -> None:
    image = cv2.imread(str(group_photo()))
    face = recognizer.detect(image)[0]
    broken = _with_embedder(recognizer, FakeConstantEmbedder(np.ones(64, dtype=np.float32), dim=128))

    with pytest.raises(ModelMismatchError, match="64"):
        broken.embed(image, face)


@pytest.mark.parametrize("value", [0.0, np.nan, np.inf])
def test_zero_or_non_finite_embedding_is_refused(recognizer: Recognizer, value: float) -> None:
    image = cv2.imread(str(group_photo()))
    face = recognizer.detect(image)[0]
    broken = _with_embedder(recognizer, FakeConstantEmbedder(np.full(8, value, dtype=np.float32), dim=8))

    with pytest.raises(RecognitionError, match="zero or non-finite"):
        broken.embed(image, face)


def test_pipeline_normalises_what_the_embedder_returns(recognizer: Recognizer) -> None:
    image = cv2.imread(str(group_photo()))
    face = recognizer.detect(image)[0]
    raw = np.arange(1, 9, dtype=np.float64)
    scaled = _with_embedder(recognizer, FakeConstantEmbedder(raw, dim=8))

    embedding = scaled.embed(image, face)

    assert embedding.vector.dtype == np.float32 and embedding.model_id == "fake-constant@test"
    np.testing.assert_allclose(embedding.vector, raw / np.linalg.norm(raw), rtol=1e-6)


def test_gallery_from_stored_bytes_identifies_each_person_of_the_group(recognizer: Recognizer) -> None:
    observations = recognizer.observe(cv2.imread(str(group_photo())))
    templates = [
        (f"t{index}", 100 + index, vector_to_bytes(observation.embedding.vector))
        for index, observation in enumerate(observations)
    ]

    gallery = recognizer.new_gallery(templates)

    assert len(gallery) == 6 and gallery.model_id == recognizer.model_id
    for index, observation in enumerate(observations):
        matches = gallery.search(observation.embedding.vector, 2)
        assert matches[0].person_id == 100 + index
        assert matches[0].score == pytest.approx(1.0, abs=1e-5)
        assert matches[1].score < recognizer.cos_threshold
