"""The face ResNet body: shapes, its 7×7 final map, and an ONNX export that ONNX Runtime runs identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("torchvision", reason="training needs the `train` extra")

from training import BackboneConfig, TrainingError, build_backbone  # noqa: E402
from training.export import write_onnx  # noqa: E402


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_the_face_resnet_keeps_a_7x7_map_and_embeds_to_the_configured_length(name: str) -> None:
    torch.manual_seed(0)
    model = build_backbone(BackboneConfig(kind="resnet", name=name, embedding_dim=64)).eval()
    images = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        assert model.features(images).shape == (2, 512, 7, 7)
        assert model(images).shape == (2, 64)


def test_an_unsupported_resnet_name_is_a_clear_error() -> None:
    with pytest.raises(TrainingError, match="resnet18, resnet34, resnet50"):
        build_backbone(BackboneConfig(kind="resnet", name="resnet19"))


def test_the_onnx_export_embeds_like_the_torch_network(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(1)
    model = build_backbone(BackboneConfig(kind="resnet", name="resnet18", dropout=0.2)).eval()
    write_onnx(model, tmp_path / "model.onnx")
    images = torch.randn(3, 3, 112, 112)
    with torch.no_grad():
        expected = model(images).numpy()
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (served,) = session.run(None, {"input": images.numpy()})
    np.testing.assert_allclose(served, expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("impostors", [20, 5])  # 5: too few for a calibration curve at all
def test_too_few_validation_impostors_is_a_clear_error_before_anything_is_written(
    tmp_path: Path, impostors: int
) -> None:
    from training import DataConfig, DatasetError, TrainConfig
    from training.export import export_bundle
    from training.validation import ValidationResult

    scores = np.linspace(-0.2, 0.9, 40)
    few = ValidationResult(
        accuracy=0.5, accuracy_std=0.0, tar_at_far_1e3=0.0, genuine=scores[20:], impostor=scores[:impostors]
    )
    config = TrainConfig(data=DataConfig(data_dir=tmp_path / "faces"))
    with pytest.raises(DatasetError, match=f"^{impostors} impostor pairs cannot calibrate"):
        export_bundle(
            build_backbone(config.backbone),
            config=config,
            validation=few,
            out_dir=tmp_path / "bundles",
            version="v",
            source="test",
            command="test",
        )
    assert not (tmp_path / "bundles").exists()


@pytest.mark.slow
@pytest.mark.model
def test_a_resnet_run_exports_a_bundle_the_product_loads_by_name(tmp_path: Path) -> None:
    import cv2

    from recognition import BundleEmbedderConfig, RecognitionSettings, build_recognizer, read_bundle_file
    from tests.training.conftest import celeba_few
    from training import AugmentConfig, DataConfig, OptimConfig, TrainConfig, TripletConfig, train_and_export

    config = TrainConfig(
        data=DataConfig(data_dir=celeba_few(tmp_path), is_aligned=True, val_identities=2),
        augment=AugmentConfig(
            flip_probability=0.0, colour_jitter=0.0, crop_min_scale=1.0, blur_probability=0.0
        ),
        backbone=BackboneConfig(kind="resnet", name="resnet18", embedding_dim=32),
        loss=TripletConfig(mining="semi_hard"),
        # One step (the wall budget) and no validation of the start: how far it trains is not the question.
        optim=OptimConfig(epochs=1, warmup_epochs=0.0, max_wall_minutes=1e-6, is_start_validated=False),
        batch_size=12,
        threads=2,
        bundle_name="resnet-test",
    )
    outcome = train_and_export(config, tmp_path / "run", recognizer=lambda: None)  # type: ignore[arg-type,return-value]
    assert outcome is not None
    assert read_bundle_file(outcome.bundle_dir / "bundle.json").embedding_dim == 32
    settings = RecognitionSettings(
        embedder=BundleEmbedderConfig(name="resnet-test"),
        bundle_dirs=[tmp_path / "run" / "bundles"],
        allow_model_download=False,
    )
    recognizer = build_recognizer(settings, cache_dir=tmp_path / "cache")
    crop = cv2.imread(str(sorted(config.data.data_dir.glob("*/*.jpg"))[0]))
    vector = recognizer.embed_aligned(crop).vector
    assert vector.shape == (32,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
