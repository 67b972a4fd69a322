"""Recognizer: image → faces → aligned crops → embeddings, validating each stage's output once (A6)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice

import numpy as np

from recognition.align import ALIGNED_SIZE_PX, align_face
from recognition.codec import vectors_from_bytes
from recognition.errors import ImageError, ModelMismatchError, RecognitionError
from recognition.gallery import Gallery
from recognition.image_io import decode_image
from recognition.index.registry import build_index
from recognition.protocols import Detector, Embedder
from recognition.settings import FlatIndexConfig, ImageLimits, IndexConfig
from recognition.types import BgrImage, DetectedFace, Embedding, FaceObservation

_ADD_BATCH = 16_384


class Recognizer:
    """Wires one detector and one embedder; the only place stage outputs are checked."""

    def __init__(
        self,
        *,
        detector: Detector,
        embedder: Embedder,
        limits: ImageLimits,
        index: IndexConfig | None = None,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.limits = limits
        self.index = FlatIndexConfig() if index is None else index

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def weights_sha256(self) -> str:
        return self.embedder.weights_sha256

    @property
    def cos_threshold(self) -> float:
        return self.embedder.cos_threshold

    def new_gallery(
        self,
        templates: Iterable[tuple[str, int, bytes]] = (),
        *,
        batch_templates: int = _ADD_BATCH,
        lookalike_min_cos: float | None = None,
    ) -> Gallery:
        """A gallery of the configured index kind from (template key, person id, stored bytes) triples.

        Templates are added `batch_templates` at a time; look-alike pairs are recorded from
        `lookalike_min_cos` up (default: the model's threshold).

        Raises:
            IndexStateError: stored bytes that are not a vector of this model's width, or a template
                key given twice.
        """
        gallery = Gallery(
            build_index(self.index, model_id=self.model_id, dim=self.embedder.dim),
            lookalike_min_cos=self.cos_threshold if lookalike_min_cos is None else lookalike_min_cos,
        )
        batches = iter(templates)
        while batch := list(islice(batches, batch_templates)):
            self.add_to(gallery, batch)
        return gallery

    def add_to(
        self,
        gallery: Gallery,
        templates: list[tuple[str, int, bytes]],
        *,
        removed_person_ids: Sequence[int] = (),
        neighbours: Sequence[bytes | None] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Remove people, then add (template key, person id, stored bytes) triples, in one change.

        `neighbours` and `progress` as `Gallery.apply`.

        Raises:
            IndexStateError: stored bytes that are not a vector of this model's width, or a known key.
        """
        gallery.apply(
            template_keys=[key for key, _, _ in templates],
            person_ids=[person_id for _, person_id, _ in templates],
            vectors=vectors_from_bytes([stored for _, _, stored in templates], dim=self.embedder.dim),
            removed_person_ids=removed_person_ids,
            neighbours=neighbours,
            progress=progress,
        )

    def decode(self, data: bytes) -> BgrImage:
        """Decode untrusted bytes within the configured limits; raises ImageError."""
        return decode_image(
            data, max_bytes=self.limits.max_image_bytes, max_pixels=self.limits.max_image_pixels
        )

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        """Faces in the image, highest score first; raises ImageError for a non-BGR or empty array."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageError(f"expected an H×W×3 uint8 BGR image, got {image.dtype} {image.shape}")
        if image.size == 0:
            raise ImageError(f"empty image ({image.shape[1]}×{image.shape[0]} pixels)")
        faces = self.detector.detect(image)
        for face in faces:
            if face.landmarks.shape != (5, 2):
                raise RecognitionError(f"detector returned landmarks of shape {face.landmarks.shape}")
        return faces

    def embed(self, image: BgrImage, face: DetectedFace) -> Embedding:
        """Align and embed one face; the vector is float32, finite and unit length."""
        return self.embed_aligned(align_face(image, face.landmarks))

    def embed_aligned(self, crop: BgrImage) -> Embedding:
        """Embed a crop already aligned onto the 112×112 template (an insightface .bin image, say).

        Raises:
            ImageError: the crop is not 112×112×3 uint8.
            ModelMismatchError: the embedder returned the wrong number of values.
            RecognitionError: the embedding is zero or not finite.
        """
        if crop.shape != (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX, 3) or crop.dtype != np.uint8:
            raise ImageError(f"expected a {ALIGNED_SIZE_PX}×{ALIGNED_SIZE_PX}×3 uint8 crop, got {crop.shape}")
        vector = np.asarray(self.embedder.embed(crop), dtype=np.float32).reshape(-1)
        if vector.shape != (self.embedder.dim,):
            raise ModelMismatchError(
                f"{self.embedder.model_id} returned {vector.shape[0]} values, expected {self.embedder.dim}"
            )
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            raise RecognitionError(f"{self.embedder.model_id} returned a zero or non-finite embedding")
        return Embedding(vector=vector / np.float32(norm), model_id=self.embedder.model_id)

    def observe(self, image: BgrImage) -> list[FaceObservation]:
        """Detect every face and embed each one."""
        return [FaceObservation(face=face, embedding=self.embed(image, face)) for face in self.detect(image)]
