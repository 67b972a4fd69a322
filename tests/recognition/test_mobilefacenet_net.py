"""MobileFaceNet: foamliu's state dict loads strictly and embeds like foamliu's own ONNX export."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.data import SHARED_DATA_DIR, shared_faces

torch = pytest.importorskip("torch", reason="torch is in the `train` and `mtcnn` extras")
onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime runs foamliu's own ONNX export")

pytestmark = pytest.mark.model

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
FOAMLIU_DIR = SHARED_DATA_DIR / "weights" / "mobilefacenet_foamliu"


def foamliu_input(path: str) -> np.ndarray:
    """A 112×112 aligned crop as foamliu's data_gen.py feeds it: RGB, /255, ImageNet mean/std, 1×3×H×W."""
    rgb = cv2.imread(path)[:, :, ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None])


def test_state_dict_loads_strictly_and_matches_the_onnx_export() -> None:
    from recognition.nets import MobileFaceNet

    weights = FOAMLIU_DIR / "mobilefacenet_foamliu_state_dict.pt"
    onnx_path = FOAMLIU_DIR / "mobilefacenet_foamliu.onnx"
    if not weights.is_file() or not onnx_path.is_file():
        pytest.skip(f"foamliu MobileFaceNet weights not found in {FOAMLIU_DIR} (set FACEGATE_DATA_DIR)")
    model = MobileFaceNet()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    crops = sorted((shared_faces() / "celeba-subset-aligned112").glob("*/*.jpg"))[:3]
    reference = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = reference.get_inputs()[0].name
    for crop in crops:
        x = foamliu_input(str(crop))  # this export's batch is fixed at 1
        expected = reference.run(None, {input_name: x})[0]
        with torch.no_grad():
            actual = model(torch.from_numpy(x)).numpy()
        assert actual.shape == (1, 128)
        np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_embedding_dimension_is_configurable() -> None:
    from recognition.nets import MobileFaceNet

    model = MobileFaceNet(embedding_dim=64).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 112, 112)).shape == (2, 64)


def test_recognition_package_does_not_import_torch_eagerly() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, recognition; assert 'torch' not in sys.modules and 'recognition.nets' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
