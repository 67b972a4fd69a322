"""Import contracts (A1, A3) and that only this project provides its six top-level names (A8)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.data import REPO_ROOT

PACKAGES = ("recognition", "storage", "enrollment", "gate", "api", "training")


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [_tool("lint-imports")], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "."], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_other_distribution_provides_our_package_names() -> None:
    owners = packages_distributions()
    for package in PACKAGES:
        assert set(owners.get(package, ["facegate"])) == {"facegate"}, (
            f"{package} is provided by {owners[package]}"
        )


def test_default_door_path_imports_no_torch_and_no_matplotlib() -> None:
    code = (
        "import sys, gate, enrollment, recognition; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
