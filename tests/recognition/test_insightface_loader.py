"""insightface's model zoo as a runtime: ArcFaceONNX on a local ONNX that follows its conventions
(foamliu's MobileFaceNet: one square 112 input, one output; insightface's own w600k models are
non-commercial and absent), and the SCRFD detector, whose tests skip without a licensed model file."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import (
    DetectedFace,
    Embedder,
    ModelLoadError,
    Preprocessing,
    RecognitionSettings,
    Recognizer,
    ScrfdConfig,
    build_recognizer,
    load_bundle_embedder,
    sha256_of,
)
from tests.data import SHARED_DATA_DIR, group_photo, no_face_photos
from tests.recognition.local_bundles import LOCAL_BUNDLE, labelled_aligned_crops, local_bundle
from tests.recognition.test_detector import _check_geometry

pytestmark = pytest.mark.model

MOBILEFACENET_ONNX = SHARED_DATA_DIR / "weights" / "mobilefacenet_foamliu" / "mobilefacenet_foamliu.onnx"
SCRFD_DIR = SHARED_DATA_DIR / "weights" / "scrfd"
SCRFD_FILE = "det_10g.onnx"
# What ArcFaceONNX feeds a graph that does not normalise itself: RGB, (x - 127.5) / 127.5.
ARCFACE_PREPROCESSING = Preprocessing(colour_order="rgb", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _model_zoo_importable() -> None:
    pytest.importorskip("insightface", reason="insightface is not installed (`make test` installs it)")
    pytest.importorskip(
        "skimage", reason="insightface's model zoo needs: pip install 'facegate[insightface]'"
    )


@pytest.fixture
def mobilefacenet_copy(tmp_path: Path) -> Path:
    _model_zoo_importable()
    if not MOBILEFACENET_ONNX.is_file():
        pytest.skip(f"{MOBILEFACENET_ONNX} not found (set FACEGATE_DATA_DIR)")
    return Path(shutil.copy(MOBILEFACENET_ONNX, tmp_path / MOBILEFACENET_ONNX.name))


def _load(directory: Path, weights: Path, *, runtime: str, preprocessing: Preprocessing) -> Embedder:
    changes = {"runtime": runtime, "preprocessing": preprocessing}
    search = local_bundle(directory, weights, like="mobilefacenet-foamliu-onnx", changes=changes)
    return load_bundle_embedder(LOCAL_BUNDLE, search)


def test_arcface_onnx_embeds_like_our_onnx_runtime_given_the_same_preprocessing(
    tmp_path: Path, mobilefacenet_copy: Path, recognizer: Recognizer
) -> None:
    ours = _load(tmp_path / "a", mobilefacenet_copy, runtime="onnx", preprocessing=ARCFACE_PREPROCESSING)
    insightface = _load(
        tmp_path / "b", mobilefacenet_copy, runtime="insightface_arcface", preprocessing=ARCFACE_PREPROCESSING
    )
    crops = labelled_aligned_crops(recognizer)

    for _, crop in crops:
        a, b = ours.embed(crop), insightface.embed(crop)
        assert b.shape == (128,) and float(np.abs(b).max()) > 0.1
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)


def test_arcface_onnx_separates_real_people(
    tmp_path: Path, mobilefacenet_copy: Path, recognizer: Recognizer
) -> None:
    embedder = _load(
        tmp_path, mobilefacenet_copy, runtime="insightface_arcface", preprocessing=ARCFACE_PREPROCESSING
    )
    vectors = []
    for person, crop in labelled_aligned_crops(recognizer):
        vector = embedder.embed(crop)
        vectors.append((person, vector / np.linalg.norm(vector)))
    genuine, impostor = [], []
    for (person_a, a), (person_b, b) in itertools.combinations(vectors, 2):
        (genuine if person_a == person_b else impostor).append(float(a @ b))

    assert len(genuine) >= 8 and len(impostor) >= 40
    assert min(genuine) > max(impostor), (genuine, impostor)


def test_a_bundle_that_describes_other_preprocessing_is_refused(
    tmp_path: Path, mobilefacenet_copy: Path
) -> None:
    imagenet = Preprocessing(colour_order="rgb", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

    with pytest.raises(ModelLoadError, match="insightface feeds this graph"):
        _load(tmp_path, mobilefacenet_copy, runtime="insightface_arcface", preprocessing=imagenet)


def _scrfd_config(model_dir: Path, sha256: str) -> RecognitionSettings:
    return RecognitionSettings(
        allow_model_download=False,
        detector=ScrfdConfig(model_dir=model_dir, model_file=SCRFD_FILE, model_sha256=sha256),
    )


@pytest.fixture(scope="module")
def scrfd(tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    _model_zoo_importable()
    path = SCRFD_DIR / SCRFD_FILE
    if not path.is_file():
        pytest.skip(
            f"{path} not found: InsightFace's SCRFD weights are non-commercial and not in the shared data; "
            "a licence holder puts det_10g.onnx there to run these tests"
        )
    return build_recognizer(
        _scrfd_config(SCRFD_DIR, sha256_of(path)), cache_dir=tmp_path_factory.mktemp("cache")
    )


def test_scrfd_finds_the_six_people_with_landmarks_close_to_yunet(
    scrfd: Recognizer, recognizer: Recognizer
) -> None:
    image = cv2.imread(str(group_photo()))

    faces = scrfd.detect(image)
    reference = recognizer.detect(image)

    assert len(faces) == len(reference) == 6
    _check_geometry(faces, image)

    def by_x(found: list[DetectedFace]) -> list[DetectedFace]:
        return sorted(found, key=lambda face: face.bbox[0])

    for ours, theirs in zip(by_x(faces), by_x(reference), strict=True):
        inter_eye_px = float(np.linalg.norm(theirs.landmarks[1] - theirs.landmarks[0]))
        assert (np.linalg.norm(ours.landmarks - theirs.landmarks, axis=1) / inter_eye_px).max() < 0.6


def test_scrfd_finds_no_face_in_product_photos(scrfd: Recognizer) -> None:
    for path in no_face_photos():
        assert scrfd.detect(cv2.imread(str(path))) == [], path.name


def test_scrfd_without_its_file_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=rf"{SCRFD_FILE} not found"):
        build_recognizer(_scrfd_config(tmp_path, "0" * 64), cache_dir=tmp_path / "cache")


def test_scrfd_refuses_a_file_with_another_sha256(tmp_path: Path) -> None:
    (tmp_path / SCRFD_FILE).write_bytes(b"not the configured model")

    with pytest.raises(ModelLoadError, match="does not match the configured"):
        build_recognizer(_scrfd_config(tmp_path, "0" * 64), cache_dir=tmp_path / "cache")
