"""The shared data directory is one setting (FACEGATE_DATA_DIR); bundle directories default under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from recognition import RecognitionSettings


def test_the_data_dir_comes_from_facegate_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path))
    settings = RecognitionSettings()
    assert settings.data_dir == tmp_path
    assert settings.bundle_dirs == [tmp_path / "weights"]


def test_explicit_bundle_dirs_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FACEGATE_RECOGNITION_BUNDLE_DIRS", f'["{tmp_path / "mine"}"]')
    assert RecognitionSettings().bundle_dirs == [tmp_path / "mine"]


def test_without_the_variable_it_is_the_sibling_shared_folder() -> None:
    assert RecognitionSettings().data_dir == Path("../shared/data")


@pytest.mark.parametrize("name", ["DATA_DIR", "data_dir"])
def test_a_variable_without_the_prefix_is_not_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    """A container's or another tool's DATA_DIR set FaceGate's data directory: the alias `data_dir` was read
    as a variable of its own, without the FACEGATE_ prefix."""
    monkeypatch.setenv(name, str(tmp_path))
    assert RecognitionSettings().data_dir == Path("../shared/data")
