"""Embed a benchmark's photos through the product's own pipeline: decode → detect → align → embed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recognition.codec import vector_to_bytes
from recognition.errors import ImageError
from recognition.evaluation.identification import IdentificationSplit, mate_scores_at_rank1
from recognition.evaluation.pairs import PairList
from recognition.evaluation.protocol import FloatArray, IntArray
from recognition.pipeline import Recognizer
from recognition.types import BgrImage, DetectedFace

logger = logging.getLogger(__name__)

# Median YuNet landmarks (D2 order) over every 8th image of LFW deep-funneled, in its 250×250 pixels:
# where the funneling puts the face. A photo without a detected face is aligned from these points.
DEEPFUNNELED_LANDMARKS_250: npt.NDArray[np.float32] = np.array(
    [[104.1, 112.6], [147.9, 111.9], [126.7, 136.6], [107.9, 155.7], [145.4, 155.5]], dtype=np.float32
)
DEEPFUNNELED_SIDE_PX = 250
FALLBACK_DESCRIPTION = (
    "no face detected: aligned from the fixed LFW deep-funneled landmark positions "
    "(median YuNet landmarks, scaled to the photo), i.e. the centre of the photo"
)


@dataclass(frozen=True)
class EmbeddedPhotos:
    """Unit embeddings of a benchmark's photos, by image key, with what it took to make them."""

    vectors: dict[str, npt.NDArray[np.float32]]
    detect_failures: tuple[str, ...]
    embed_s: float
    """Total seconds spent aligning and embedding (detection excluded)."""

    @property
    def embed_ms_per_face(self) -> float:
        return 1000.0 * self.embed_s / max(1, len(self.vectors))


def nearest_centre_face(faces: list[DetectedFace], *, width_px: int, height_px: int) -> DetectedFace:
    """The face whose box centre is nearest the image centre (LFW's subject is the centred face)."""

    def distance(face: DetectedFace) -> float:
        x1, y1, x2, y2 = face.bbox
        return float(np.hypot((x1 + x2 - width_px) / 2.0, (y1 + y2 - height_px) / 2.0))

    return min(faces, key=distance)


def fallback_face(image: BgrImage) -> DetectedFace:
    """A stand-in face at the deep-funneled standard position, scaled to the photo (score 0)."""
    height, width = image.shape[:2]
    scale = np.array([width, height], dtype=np.float32) / np.float32(DEEPFUNNELED_SIDE_PX)
    landmarks = (DEEPFUNNELED_LANDMARKS_250 * scale).astype(np.float32)
    return DetectedFace(bbox=(0, 0, width, height), landmarks=landmarks, score=0.0)


def embed_photos(
    recognizer: Recognizer,
    photos: Iterable[tuple[str, bytes]],
    *,
    is_aligned: bool,
    clock: Callable[[], float],
    on_photo: Callable[[], None] = lambda: None,
) -> EmbeddedPhotos:
    """Embed every (key, encoded image) once.

    Args:
        recognizer: the configured pipeline; its detector, `align_face` and embedder are what is measured.
        photos: image key and its encoded bytes.
        is_aligned: the photos are already 112×112 aligned crops (a .bin): embed them without detection.
        clock: monotonic seconds, for the embedding latency.
        on_photo: called after each photo (a progress bar).

    Raises:
        ImageError: a photo cannot be decoded (named by its key).
    """
    vectors: dict[str, npt.NDArray[np.float32]] = {}
    failures: list[str] = []
    embed_s = 0.0
    for key, data in photos:
        try:
            image = recognizer.decode(data)
        except ImageError as exc:
            raise ImageError(f"{key}: {exc}") from exc
        face = None if is_aligned else _subject(recognizer, image, key, failures)
        started = clock()
        embedding = recognizer.embed_aligned(image) if face is None else recognizer.embed(image, face)
        embed_s += clock() - started
        vectors[key] = embedding.vector
        on_photo()
    return EmbeddedPhotos(vectors=vectors, detect_failures=tuple(failures), embed_s=embed_s)


def _subject(recognizer: Recognizer, image: BgrImage, key: str, failures: list[str]) -> DetectedFace:
    faces = recognizer.detect(image)
    if not faces:
        logger.info("%s: no face detected, using the deep-funneled fallback", key)
        failures.append(key)
        return fallback_face(image)
    return nearest_centre_face(faces, width_px=image.shape[1], height_px=image.shape[0])


def pair_scores(embedded: EmbeddedPhotos, pairs: PairList) -> FloatArray:
    """Cosine similarity (inner product of unit vectors) of every pair, float64."""
    first = np.stack([embedded.vectors[key] for key in pairs.first]).astype(np.float64)
    second = np.stack([embedded.vectors[key] for key in pairs.second]).astype(np.float64)
    scores: FloatArray = np.einsum("ij,ij->i", first, second)
    return scores


@dataclass(frozen=True)
class SearchScores:
    """Outcome of every search of an identification split against its gallery, float64."""

    mate_rank1: FloatArray
    """Per mated search, the rank-1 score when the rank-1 identity is the mate, else -inf."""
    nonmated_top: FloatArray
    """Per non-mated search, the top score."""


def search_gallery(
    recognizer: Recognizer, embedded: EmbeddedPhotos, split: IdentificationSplit
) -> SearchScores:
    """Enroll the split's gallery photos into the product's FAISS gallery and run every probe at rank 1.

    An identity's score is the best of its templates (the gallery groups templates by person).
    """
    gallery = recognizer.new_gallery(
        (key, person_id, vector_to_bytes(embedded.vectors[key])) for key, person_id in split.gallery
    )

    def top(key: str) -> tuple[int, float]:
        match = gallery.search(embedded.vectors[key], k=1)[0]
        return match.person_id, match.score

    mated = [top(key) for key, _ in split.mated]
    top_ids: IntArray = np.array([person_id for person_id, _ in mated], dtype=np.int64)
    mate_ids: IntArray = np.array([person_id for _, person_id in split.mated], dtype=np.int64)
    top_scores: FloatArray = np.array([score for _, score in mated], dtype=np.float64)
    return SearchScores(
        mate_rank1=mate_scores_at_rank1(top_ids, top_scores, mate_ids),
        nonmated_top=np.array([top(key)[1] for key in split.nonmated], dtype=np.float64),
    )
