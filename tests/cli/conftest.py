"""CLI fixtures shared by more than one command group's tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from recognition import BundleSearch, find_bundle, locate_weights, write_bundle_file


@pytest.fixture
def sface_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundle.json of an uncalibrated copy of the SFace bundle (real weights) in a bundle directory."""
    sface = find_bundle("sface", BundleSearch())
    directory = tmp_path / "bundles" / "sface-copy"
    directory.mkdir(parents=True)
    copy = sface.bundle.model_copy(
        update={"name": "sface-copy", "template_model_id": None, "calibration": None}
    )
    shutil.copyfile(locate_weights(sface, BundleSearch()), directory / copy.weights_file)
    monkeypatch.setenv("FACEGATE_RECOGNITION_BUNDLE_DIRS", json.dumps([str(directory.parent)]))
    return write_bundle_file(copy, directory / "bundle.json")
