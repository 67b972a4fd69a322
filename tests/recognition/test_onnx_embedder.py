"""ONNX and TorchScript bundle embedders: preprocessing as the bundle says, real MobileFaceNet weights."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import (
    BundleSearch,
    ModelLoadError,
    Preprocessing,
    Recognizer,
    align_face,
    find_bundle,
    load_bundle_embedder,
    locate_weights,
    sha256_of,
    write_bundle_file,
)
from recognition.embed.onnx import OnnxBundleEmbedder
from recognition.embed.preprocess import network_input
from tests.data import SHARED_DATA_DIR, group_photo, knn_examples
from tests.fakes import fake_bundle

WEIGHTS_DIR = SHARED_DATA_DIR / "weights"
MOBILEFACENET = "mobilefacenet-foamliu-onnx"


def _reference_input(crop: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """network_input one pixel at a time: the brute-force reference (K4)."""
    width, height = preprocessing.input_size
    resized = (
        cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
        if crop.shape[:2] != (height, width)
        else crop
    )
    out = np.empty((1, 3, height, width), dtype=np.float32)
    for y in range(height):
        for x in range(width):
            for channel in range(3):
                source = 2 - channel if preprocessing.colour_order == "rgb" else channel
                value = float(resized[y, x, source])
                if not preprocessing.in_graph:
                    value = (value / 255.0 - preprocessing.mean[channel]) / preprocessing.std[channel]
                out[0, channel, y, x] = value
    return out


@pytest.mark.parametrize(
    "preprocessing",
    [
        Preprocessing(colour_order="rgb", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        Preprocessing(colour_order="bgr", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        Preprocessing(colour_order="rgb", in_graph=True),
        Preprocessing(colour_order="rgb", input_size=(96, 128), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    ],
    ids=["rgb-imagenet", "bgr-half", "in-graph", "resized-96x128"],
)
def test_network_input_matches_the_pixel_by_pixel_reference(
    recognizer: Recognizer, preprocessing: Preprocessing
) -> None:
    image = cv2.imread(str(group_photo()))
    crop = align_face(image, recognizer.detect(image)[0].landmarks)

    np.testing.assert_allclose(
        network_input(crop, preprocessing), _reference_input(crop, preprocessing), rtol=1e-6, atol=1e-6
    )


def _weights_search() -> BundleSearch:
    if not (WEIGHTS_DIR / "mobilefacenet_foamliu").is_dir():
        pytest.skip(f"MobileFaceNet weights not found under {WEIGHTS_DIR} (set FACEGATE_DATA_DIR)")
    return BundleSearch(bundle_dirs=(WEIGHTS_DIR,))


def _knn_crops(recognizer: Recognizer) -> list[tuple[str, np.ndarray]]:
    """(person, aligned crop) of every knn_examples training photo: 9 photos of 5 people."""
    crops = []
    for photo in sorted((knn_examples() / "train").glob("*/*")):
        image = recognizer.decode(photo.read_bytes())
        crops.append((photo.parent.name, align_face(image, recognizer.detect(image)[0].landmarks)))
    return crops


@pytest.mark.model
def test_mobilefacenet_onnx_separates_people(recognizer: Recognizer) -> None:
    embedder = load_bundle_embedder(MOBILEFACENET, _weights_search())
    assert isinstance(embedder, OnnxBundleEmbedder)
    crops = _knn_crops(recognizer)
    vectors = [embedder.embed(crop) for _, crop in crops]
    unit = np.stack([v / np.linalg.norm(v) for v in vectors])
    scores = unit @ unit.T
    people = [person for person, _ in crops]
    genuine = [scores[i, j] for i in range(len(crops)) for j in range(i) if people[i] == people[j]]
    impostor = [scores[i, j] for i in range(len(crops)) for j in range(i) if people[i] != people[j]]

    assert len(genuine) == 4 and min(genuine) > max(impostor)
    assert all(v.shape == (embedder.dim,) and v.dtype == np.float32 for v in vectors)


@pytest.mark.model
def test_an_input_size_the_graph_does_not_take_is_a_load_error() -> None:
    search = _weights_search()
    located = find_bundle(MOBILEFACENET, search)
    wrong = located.bundle.model_copy(
        update={"preprocessing": located.bundle.preprocessing.model_copy(update={"input_size": (128, 128)})}
    )
    with pytest.raises(ModelLoadError, match="input shape"):
        OnnxBundleEmbedder(locate_weights(located, search), bundle=wrong)


@pytest.mark.model
@pytest.mark.mtcnn
def test_torchscript_export_embeds_like_the_onnx_model(recognizer: Recognizer, tmp_path: Path) -> None:
    """A trainer-style TorchScript bundle of foamliu's state dict gives the ONNX model's embeddings."""
    torch = pytest.importorskip("torch", reason="TorchScript bundles need the optional torch extra")
    from recognition.nets import MobileFaceNet

    search = _weights_search()
    onnx_bundle = find_bundle(MOBILEFACENET, search).bundle
    net = MobileFaceNet()
    state = WEIGHTS_DIR / "mobilefacenet_foamliu" / "mobilefacenet_foamliu_state_dict.pt"
    net.load_state_dict(torch.load(state, map_location="cpu", weights_only=True), strict=True)
    export = tmp_path / "mobilefacenet-ts"
    export.mkdir()
    with pytest.warns(FutureWarning, match="is deprecated"):  # torch 2.14 deprecates torch.jit; it works
        torch.jit.trace(net.eval(), torch.zeros(1, 3, 112, 112)).save(str(export / "model.ts"))
    ts_bundle = onnx_bundle.model_copy(
        update={
            "name": "mobilefacenet-ts",
            "runtime": "torchscript",
            "weights_file": "model.ts",
            "weights_sha256": sha256_of(export / "model.ts"),
        }
    )
    write_bundle_file(ts_bundle, export / "bundle.json")
    scripted = load_bundle_embedder("mobilefacenet-ts", BundleSearch(bundle_dirs=(tmp_path,)))
    onnx = load_bundle_embedder(MOBILEFACENET, search)

    for _, crop in _knn_crops(recognizer)[:3]:
        np.testing.assert_allclose(scripted.embed(crop), onnx.embed(crop), atol=1e-4)
    assert scripted.bundle.model_id == "mobilefacenet-ts@a6cc903" != onnx.bundle.model_id


def test_a_file_that_is_not_an_onnx_graph_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "none.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ModelLoadError, match="onnxruntime could not load"):
        OnnxBundleEmbedder(tmp_path / "none.onnx", bundle=fake_bundle())


@pytest.mark.model
def test_a_bundle_declaring_another_dimension_than_its_graph_gives_is_a_load_error(tmp_path: Path) -> None:
    # A third-party bundle.json that says 512 for MobileFaceNet's 128-d graph: it loaded, the gate started
    # healthy and every face at the door was a recognition_error ("returned 128 values, expected 512").
    search = _weights_search()
    located = find_bundle(MOBILEFACENET, search)
    bundle_dir = tmp_path / "bundles" / "declared-512"
    bundle_dir.mkdir(parents=True)
    (bundle_dir / located.bundle.weights_file).write_bytes(locate_weights(located, search).read_bytes())
    wrong = located.bundle.model_copy(update={"name": "declared-512", "embedding_dim": 512})
    write_bundle_file(wrong, bundle_dir / "bundle.json")
    with pytest.raises(
        ModelLoadError,
        match=re.escape(
            "output shape [1, 128] gives 128 values per face, but bundle declared-512@a6cc903 declares "
            "embedding_dim 512"
        ),
    ):
        load_bundle_embedder("declared-512", BundleSearch(bundle_dirs=(tmp_path / "bundles",)))
