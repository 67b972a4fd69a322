"""EdgeFace XS and XXS (int8, timm + torch) through their bundles, on real photos: other photos of the
same person score above the bundle's threshold, different people below it; broken files fail clearly."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import (
    BundleEmbedderConfig,
    BundleSearch,
    ModelLoadError,
    RecognitionSettings,
    Recognizer,
    build_recognizer,
    find_bundle,
    load_bundle_embedder,
)
from tests.data import SHARED_DATA_DIR, group_photo
from tests.recognition.local_bundles import LOCAL_BUNDLE, labelled_aligned_crops, local_bundle

pytestmark = pytest.mark.model

WEIGHTS_DIR = SHARED_DATA_DIR / "weights"
EDGEFACE_BUNDLES = ("edgeface-xs", "edgeface-xxs")


def _weights_present(bundle_name: str) -> None:
    pytest.importorskip("timm", reason="EdgeFace needs the optional extra: pip install 'facegate[edgeface]'")
    weights_file = find_bundle(bundle_name, BundleSearch()).bundle.weights_file
    if not (WEIGHTS_DIR / "edgeface" / weights_file).is_file():
        pytest.skip(f"{weights_file} not found in {WEIGHTS_DIR / 'edgeface'} (set FACEGATE_DATA_DIR)")


@pytest.fixture(scope="module", params=EDGEFACE_BUNDLES)
def edgeface(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    _weights_present(request.param)
    settings = RecognitionSettings(
        allow_model_download=False,
        bundle_dirs=[WEIGHTS_DIR],
        embedder=BundleEmbedderConfig(name=request.param),
    )
    return build_recognizer(settings, cache_dir=tmp_path_factory.mktemp("model-cache"))


def test_embeddings_are_512_d_unit_vectors_tagged_with_the_bundle(edgeface: Recognizer) -> None:
    image = cv2.imread(str(group_photo()))

    observations = edgeface.observe(image)

    assert len(observations) == 6
    assert edgeface.embedder.dim == 512
    assert edgeface.model_id == edgeface.embedder.bundle.model_id
    assert edgeface.weights_sha256 == edgeface.embedder.bundle.weights_sha256
    for observation in observations:
        assert observation.embedding.model_id == edgeface.model_id
        assert observation.embedding.vector.shape == (512,)
        assert float(np.linalg.norm(observation.embedding.vector)) == pytest.approx(1.0, abs=1e-5)
    again = edgeface.embed(image, observations[0].face)
    np.testing.assert_array_equal(again.vector, observations[0].embedding.vector)


def test_same_person_scores_above_the_threshold_and_different_people_below(edgeface: Recognizer) -> None:
    crops = labelled_aligned_crops(edgeface)
    vectors = [edgeface.embed_aligned(crop).vector for _, crop in crops]
    genuine, impostor = [], []
    for (a, (person_a, _)), (b, (person_b, _)) in itertools.combinations(enumerate(crops), 2):
        (genuine if person_a == person_b else impostor).append(float(vectors[a] @ vectors[b]))

    assert len(genuine) >= 8 and len(impostor) >= 40
    assert min(genuine) >= edgeface.cos_threshold, genuine
    assert max(impostor) < edgeface.cos_threshold, impostor


def test_the_six_people_of_the_group_photo_are_all_impostors(edgeface: Recognizer) -> None:
    vectors = np.stack([o.embedding.vector for o in edgeface.observe(cv2.imread(str(group_photo())))])
    impostor = [float(vectors[i] @ vectors[j]) for i, j in itertools.combinations(range(6), 2)]
    assert max(impostor) < edgeface.cos_threshold, impostor


def test_a_state_dict_of_another_network_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="needs the optional torch extra")
    pytest.importorskip("timm", reason="EdgeFace needs the optional extra: pip install 'facegate[edgeface]'")
    weights = tmp_path / "other.pt"
    torch.save({"model.stem.0.weight": torch.zeros(16, 3, 4, 4)}, weights)

    with pytest.raises(ModelLoadError, match="not an EdgeFace checkpoint"):
        load_bundle_embedder(LOCAL_BUNDLE, local_bundle(tmp_path, weights, like="edgeface-xxs"))


def test_a_file_that_is_not_a_torch_checkpoint_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("timm", reason="EdgeFace needs the optional extra: pip install 'facegate[edgeface]'")
    weights = tmp_path / "broken.pt"
    weights.write_bytes(b"not a checkpoint")

    with pytest.raises(ModelLoadError, match="could not read"):
        load_bundle_embedder(LOCAL_BUNDLE, local_bundle(tmp_path, weights, like="edgeface-xxs"))


def test_without_timm_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = tmp_path / "any.pt"
    weights.write_bytes(b"never read")
    monkeypatch.setitem(sys.modules, "timm", None)  # what `import timm` meets when it is not installed

    with pytest.raises(ModelLoadError, match=r"facegate\[edgeface\]"):
        load_bundle_embedder(LOCAL_BUNDLE, local_bundle(tmp_path, weights, like="edgeface-xxs"))
