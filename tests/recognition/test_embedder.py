"""SFace through the pipeline: embedding format, and genuine vs impostor scores on real faces."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from recognition import Embedding, Recognizer
from tests.data import group_photo


def _embed_single(recognizer: Recognizer, image: np.ndarray) -> Embedding:
    faces = recognizer.detect(image)
    assert len(faces) == 1
    return recognizer.embed(image, faces[0])


@pytest.fixture(scope="module")
def crops(recognizer: Recognizer, group_faces: list[bytes]) -> list[np.ndarray]:
    return [recognizer.decode(data) for data in group_faces]


@pytest.fixture(scope="module")
def embeddings(recognizer: Recognizer, crops: list[np.ndarray]) -> list[Embedding]:
    return [_embed_single(recognizer, crop) for crop in crops]


def test_embeddings_are_unit_float32_vectors_tagged_with_the_model(
    recognizer: Recognizer, embeddings: list[Embedding]
) -> None:
    assert recognizer.model_id and recognizer.embedder.dim == 128
    for embedding in embeddings:
        assert embedding.model_id == recognizer.model_id
        assert embedding.vector.dtype == np.float32 and embedding.vector.shape == (128,)
        assert np.all(np.isfinite(embedding.vector))
        assert float(np.linalg.norm(embedding.vector)) == pytest.approx(1.0, abs=1e-5)


def test_embedding_is_deterministic(
    recognizer: Recognizer, crops: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    again = _embed_single(recognizer, crops[0])
    np.testing.assert_array_equal(again.vector, embeddings[0].vector)


def test_the_six_people_of_the_group_photo_are_all_impostors(recognizer: Recognizer) -> None:
    observations = recognizer.observe(cv2.imread(str(group_photo())))

    assert len(observations) == 6
    vectors = np.stack([observation.embedding.vector for observation in observations])
    impostor = [float(vectors[i] @ vectors[j]) for i, j in itertools.combinations(range(6), 2)]
    assert len(impostor) == 15
    assert max(impostor) < recognizer.cos_threshold, impostor


def test_same_person_scores_above_threshold_and_clearly_above_every_other_person(
    recognizer: Recognizer, crops: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    gallery = np.stack([embedding.vector for embedding in embeddings])
    for person, crop in enumerate(crops):
        flipped = np.ascontiguousarray(crop[:, ::-1])
        height, width = crop.shape[:2]
        rescaled = cv2.resize(crop, (int(width * 1.6), int(height * 1.6)), interpolation=cv2.INTER_CUBIC)
        for variant in (flipped, rescaled):
            scores = gallery @ _embed_single(recognizer, variant).vector
            others = np.delete(scores, person)
            assert scores[person] > recognizer.cos_threshold, (person, scores)
            assert scores[person] - others.max() > 0.15, (person, scores)
