"""The facenet-pytorch InceptionResnetV1 runtime. No VGGFace2 weights exist here, so these tests check
the loading mechanics with a state dict saved from an UNTRAINED network in tmp_path: strict loading
(with or without the training classifier), the 160×160 (x − 127.5) / 128 RGB input compared with
facenet-pytorch's own preprocessing, and clear errors. They say nothing about recognition accuracy."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import (
    BundleEmbedderConfig,
    BundleSearch,
    ModelBundle,
    ModelLoadError,
    Preprocessing,
    RecognitionSettings,
    Recognizer,
    align_face,
    build_recognizer,
    load_bundle_embedder,
    sha256_of,
    write_bundle_file,
)
from tests.data import group_photo

NAME = "facenet-untrained"
NEEDS_EXTRA = "needs torch and facenet-pytorch: pip install 'facegate[mtcnn]'"
# What a bundle for facenet-pytorch's VGGFace2 weights says: 160×160 RGB, (x - 127.5) / 128.
FACENET_PREPROCESSING = Preprocessing(
    input_size=(160, 160), colour_order="rgb", mean=(0.5, 0.5, 0.5), std=(128 / 255, 128 / 255, 128 / 255)
)


def _save_untrained(directory: Path, *, classes: int | None) -> tuple[Path, object]:
    """An untrained InceptionResnetV1's state dict (with a classifier of `classes` identities) and the net."""
    torch = pytest.importorskip(
        "torch", reason="needs the optional torch extra: pip install 'facegate[mtcnn]'"
    )
    facenet = pytest.importorskip(
        "facenet_pytorch", reason="needs facenet-pytorch: pip install 'facegate[mtcnn]'"
    )
    torch.manual_seed(0)
    network = facenet.InceptionResnetV1(pretrained=None, classify=classes is not None, num_classes=classes)
    weights = directory / "inception_resnet_v1_untrained.pt"
    torch.save(network.state_dict(), weights)
    return weights, network.eval()


def _write_bundle(directory: Path, weights: Path) -> None:
    bundle = ModelBundle(
        name=NAME,
        version="untrained",
        runtime="facenet_pytorch",
        weights_file=weights.name,
        weights_sha256=sha256_of(weights),
        preprocessing=FACENET_PREPROCESSING,
        embedding_dim=512,
        licence="MIT (facenet-pytorch code); untrained weights made by this test",
        source="tests/recognition/test_facenet_loader.py",
        default_cos_threshold=0.5,
    )
    write_bundle_file(bundle, directory / "bundle.json")


def _aligned_crop(recognizer: Recognizer) -> np.ndarray:
    image = cv2.imread(str(group_photo()))
    return align_face(image, recognizer.detect(image)[0].landmarks)


def test_embeds_like_facenet_pytorch_with_its_own_preprocessing(
    tmp_path: Path, recognizer: Recognizer
) -> None:
    weights, reference = _save_untrained(tmp_path, classes=None)
    _write_bundle(tmp_path, weights)
    import torch
    from facenet_pytorch import fixed_image_standardization

    embedder = load_bundle_embedder(NAME, BundleSearch(bundle_dirs=(tmp_path,)))
    crop = _aligned_crop(recognizer)
    ours = embedder.embed(crop)

    rgb_160 = cv2.resize(crop, (160, 160), interpolation=cv2.INTER_LINEAR)[:, :, ::-1].copy()
    tensor = fixed_image_standardization(torch.from_numpy(rgb_160).permute(2, 0, 1).float()[None])
    with torch.inference_mode():
        theirs = reference(tensor)[0].numpy()  # type: ignore[operator]
    assert embedder.dim == ours.shape[0] == 512
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def test_a_checkpoint_with_its_training_classifier_loads(tmp_path: Path, recognizer: Recognizer) -> None:
    weights, _ = _save_untrained(tmp_path, classes=7)
    _write_bundle(tmp_path, weights)
    settings = RecognitionSettings(
        allow_model_download=False, bundle_dirs=[tmp_path], embedder=BundleEmbedderConfig(name=NAME)
    )

    built = build_recognizer(settings, cache_dir=tmp_path / "cache")
    embedding = built.embed_aligned(_aligned_crop(recognizer))

    # The classifier is loaded but never used: the output is the 512-d embedding, not 7 logits.
    assert embedding.vector.shape == (512,) and embedding.model_id == f"{NAME}@untrained"


def test_without_the_weights_file_and_downloads_disabled_the_error_names_it(tmp_path: Path) -> None:
    weights, _ = _save_untrained(tmp_path, classes=None)
    _write_bundle(tmp_path, weights)
    weights.unlink()
    settings = RecognitionSettings(
        allow_model_download=False, bundle_dirs=[tmp_path], embedder=BundleEmbedderConfig(name=NAME)
    )

    with pytest.raises(ModelLoadError, match=r"inception_resnet_v1_untrained\.pt not found"):
        build_recognizer(settings, cache_dir=tmp_path / "cache")


def test_without_facenet_pytorch_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights, _ = _save_untrained(tmp_path, classes=None)
    _write_bundle(tmp_path, weights)
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # what an import meets when it is absent

    with pytest.raises(ModelLoadError, match=r"facegate\[mtcnn\]"):
        load_bundle_embedder(NAME, BundleSearch(bundle_dirs=(tmp_path,)))
