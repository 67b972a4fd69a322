"""constraints.txt pins every dependency the Makefile installs, and the venv holds exactly those versions.

A range in pyproject.toml lets a fresh machine pick another numpy, OpenCV, Pillow or tool than the machine
that measured BENCHMARKS.md; its training results, lint and type checks are then no longer that machine's.
"""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from tests.data import REPO_ROOT

MAKE_EXTRAS = {"dev", "mtcnn", "train", "edgeface", "insightface"}
"""The extras `make test` installs (the Makefile's .dev-installed step)."""


def _pins() -> dict[NormalizedName, str]:
    pins: dict[NormalizedName, str] = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _installed_requirements() -> list[Requirement]:
    """The project's requirements that the Makefile's installs select: the runtime ones and MAKE_EXTRAS'."""
    selected = []
    for text in metadata.requires("facegate") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in MAKE_EXTRAS):
            selected.append(requirement)
    return selected


def test_every_dependency_the_makefile_installs_is_pinned() -> None:
    pins = _pins()
    requirements = _installed_requirements()
    assert len(requirements) > 20
    unpinned = sorted({r.name for r in requirements if canonicalize_name(r.name) not in pins})
    assert not unpinned, f"not in constraints.txt (run `make constraints`): {unpinned}"
    outside = sorted(
        f"{r.name}=={pins[canonicalize_name(r.name)]} against {r.specifier}"
        for r in requirements
        if not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    )
    assert not outside, f"constraints.txt pins versions pyproject.toml refuses: {outside}"


def test_the_venv_holds_the_pinned_versions() -> None:
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    drifted = sorted(
        f"{name}: {installed[name]} installed, {version} pinned"
        for name, version in _pins().items()
        if name in installed and installed[name] != version
    )
    assert not drifted, f"the venv differs from constraints.txt (reinstall with `make test`): {drifted}"
