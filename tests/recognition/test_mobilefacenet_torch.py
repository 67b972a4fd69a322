"""MobileFaceNet's state dict through torch (recognition.nets) embeds real aligned faces exactly as the
ONNX export of the same weights does; a state dict of another shape is refused by name."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import (
    BundleSearch,
    Embedder,
    ModelLoadError,
    Recognizer,
    align_face,
    load_bundle_embedder,
)
from tests.data import SHARED_DATA_DIR, group_photo
from tests.recognition.local_bundles import LOCAL_BUNDLE, labelled_aligned_crops, local_bundle

pytestmark = pytest.mark.model

WEIGHTS_DIR = SHARED_DATA_DIR / "weights"
FOAMLIU_DIR = WEIGHTS_DIR / "mobilefacenet_foamliu"


@pytest.fixture(scope="module")
def torch_and_onnx() -> tuple[Embedder, Embedder]:
    pytest.importorskip("torch", reason="needs the optional torch extra: pip install 'facegate[mtcnn]'")
    for name in ("mobilefacenet_foamliu_state_dict.pt", "mobilefacenet_foamliu.onnx"):
        if not (FOAMLIU_DIR / name).is_file():
            pytest.skip(f"{name} not found in {FOAMLIU_DIR} (set FACEGATE_DATA_DIR)")
    search = BundleSearch(bundle_dirs=(WEIGHTS_DIR,))
    return (
        load_bundle_embedder("mobilefacenet-foamliu-torch", search),
        load_bundle_embedder("mobilefacenet-foamliu-onnx", search),
    )


def test_torch_embeddings_equal_the_onnx_export_on_real_faces(
    torch_and_onnx: tuple[Embedder, Embedder], recognizer: Recognizer
) -> None:
    torch_embedder, onnx_embedder = torch_and_onnx
    image = cv2.imread(str(group_photo()))
    crops = [align_face(image, face.landmarks) for face in recognizer.detect(image)]
    crops += [crop for _, crop in labelled_aligned_crops(recognizer)]
    assert len(crops) >= 15

    for crop in crops:
        ours, theirs = torch_embedder.embed(crop), onnx_embedder.embed(crop)
        assert ours.shape == theirs.shape == (128,)
        assert float(np.abs(theirs).max()) > 0.1  # real activations, not a degenerate output
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)


def test_the_torch_bundle_describes_the_same_model_under_its_own_id(
    torch_and_onnx: tuple[Embedder, Embedder],
) -> None:
    torch_embedder, onnx_embedder = torch_and_onnx
    assert torch_embedder.bundle.preprocessing == onnx_embedder.bundle.preprocessing
    # Same numbers, different files: templates of one are never searched with the other (D4).
    assert torch_embedder.model_id != onnx_embedder.model_id
    assert torch_embedder.weights_sha256 != onnx_embedder.weights_sha256


def test_a_state_dict_of_another_shape_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="needs the optional torch extra")
    weights = tmp_path / "other.pt"
    torch.save({"conv1.0.weight": torch.zeros(8, 3, 3, 3)}, weights)

    with pytest.raises(ModelLoadError, match="do not fit the architecture"):
        load_bundle_embedder(
            LOCAL_BUNDLE, local_bundle(tmp_path, weights, like="mobilefacenet-foamliu-torch")
        )
