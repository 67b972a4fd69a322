"""The benchmark harness on the real default models: nearest-centre face, the no-face fallback, .bin crops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recognition import ImageError, Recognizer, align_face, embed_photos
from recognition.evaluation.harness import fallback_face, nearest_centre_face
from recognition.types import DetectedFace
from tests.data import encode_jpeg


def _face(x1: int, y1: int, x2: int, y2: int, *, score: float = 0.9) -> DetectedFace:
    return DetectedFace(bbox=(x1, y1, x2, y2), landmarks=np.zeros((5, 2), np.float32), score=score)


def test_nearest_centre_face_wins_over_a_larger_or_more_confident_one() -> None:
    centred = _face(100, 100, 150, 150, score=0.75)
    others = [_face(0, 0, 120, 120, score=0.99), _face(180, 170, 250, 250)]
    assert nearest_centre_face([*others, centred], width_px=250, height_px=250) is centred


def test_fallback_face_scales_the_deep_funneled_position_to_the_photo() -> None:
    small = fallback_face(np.zeros((250, 250, 3), np.uint8))
    large = fallback_face(np.zeros((500, 500, 3), np.uint8))
    assert small.score == 0.0 and small.bbox == (0, 0, 250, 250)
    np.testing.assert_allclose(large.landmarks, 2 * small.landmarks)
    eyes_centre = small.landmarks[:2].mean(axis=0)
    assert 100 < eyes_centre[0] < 150 and 100 < eyes_centre[1] < 125


def test_a_photo_without_a_face_is_embedded_by_the_fallback_and_counted(
    recognizer: Recognizer, group_faces: list[bytes]
) -> None:
    grey = encode_jpeg(np.full((250, 250, 3), 128, np.uint8))
    ticks = itertools.count(step=0.5)
    embedded = embed_photos(
        recognizer,
        [("face", group_faces[0]), ("grey", grey)],
        is_aligned=False,
        clock=lambda: float(next(ticks)),
    )
    assert embedded.detect_failures == ("grey",)
    assert set(embedded.vectors) == {"face", "grey"}
    assert all(np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5) for vector in embedded.vectors.values())
    assert embedded.embed_ms_per_face == pytest.approx(500.0)


def test_an_aligned_crop_embeds_exactly_like_the_photo_it_came_from(
    recognizer: Recognizer, group_faces: list[bytes]
) -> None:
    image = recognizer.decode(group_faces[1])
    face = recognizer.detect(image)[0]
    from_photo = recognizer.embed(image, face).vector
    from_crop = recognizer.embed_aligned(align_face(image, face.landmarks)).vector
    np.testing.assert_array_equal(from_photo, from_crop)
    with pytest.raises(ImageError, match="112×112×3 uint8"):
        recognizer.embed_aligned(image)
