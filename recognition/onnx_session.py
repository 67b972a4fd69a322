"""Opening onnxruntime sessions for every ONNX stage: execution providers, a thread limit, clear errors.

OpenCV and torch take their thread counts process-wide, onnxruntime per session, and by default each
session spreads over every physical core whatever OMP_NUM_THREADS says. `limit_inference_threads`, called
where the stages are composed, holds the sessions opened afterwards and OpenCV to one count, so that a
gate sharing a host with others, or a benchmark that reports CPU time for one thread, gets what it set.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

# onnxruntime's pybind errors derive from Exception directly, not from RuntimeError.
ORT_ERRORS = (
    ort_state.EPFail,
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)

_session_threads = 0


def limit_inference_threads(threads: int) -> None:
    """Hold OpenCV, and every onnxruntime session opened from now on, to `threads` threads each.

    0 leaves both at the libraries' own choice (onnxruntime: one thread per physical core).
    """
    global _session_threads
    if threads < 0:
        raise ValueError(f"threads must be 0 (the libraries' default) or more, not {threads}")
    _session_threads = threads
    if threads > 0:
        cv2.setNumThreads(threads)


def execution_providers() -> list[str]:
    """CUDA when this onnxruntime build offers it, always with the CPU as the fallback."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def open_session(model_path: Path) -> ort.InferenceSession:
    """An inference session on `model_path` with this process's thread limit and providers.

    Raises:
        The onnxruntime error (one of ORT_ERRORS) when the file is missing or not a model it can run;
        callers say which model it was.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = _session_threads
    if _session_threads > 0:
        options.inter_op_num_threads = _session_threads
    return ort.InferenceSession(str(model_path), options, providers=execution_providers())
