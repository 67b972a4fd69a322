"""Find model bundles by name, and their weights by file name and sha256, with no code change.

Bundle descriptions come from two places, searched in this order (the first bundle of a name wins):
each configured bundle directory (`DIR/bundle.json`, or `DIR/NAME/bundle.json` as the trainer exports
them), then the built-in descriptions shipped in `recognition/bundles/NAME.json`. A bundle's weights
file is searched beside its `bundle.json`, then in the model directory and every bundle directory
(top level and one folder down, the layout of the shared data set's `weights/`), then in the package
the bundle names. The first copy found must match the pinned sha256: a mismatch is an error, never a
reason to keep looking.

A description file that cannot be read or validated hides only the bundle it describes (the name its JSON
gives, or its folder's name): looking that name up is an error, every other bundle is still found, and each
invalid file is logged, so one half-written export in a model directory does not stop every gate.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recognition.bundle import BUNDLE_FILE, ModelBundle, read_bundle_file
from recognition.errors import ModelLoadError
from recognition.model_files import sha256_of

BUILTIN_BUNDLES_DIR = Path(__file__).resolve().parent / "bundles"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocatedBundle:
    """A bundle description and the file it was read from."""

    bundle: ModelBundle
    path: Path
    is_builtin: bool

    @property
    def directory(self) -> Path | None:
        """The bundle's own directory (where its weights sit beside it); None for built-ins."""
        return None if self.is_builtin else self.path.parent


@dataclass(frozen=True)
class InvalidBundle:
    """A description file that could not be read or validated: where, why, and which names it stands for."""

    path: Path
    problem: str
    claimed_names: frozenset[str]


@dataclass(frozen=True)
class BundleScan:
    """Every valid bundle (the first of each name) and every invalid description, in search order."""

    bundles: list[LocatedBundle]
    invalid: list[InvalidBundle]


@dataclass(frozen=True)
class BundleSearch:
    """Where bundles and weights are looked for: the configured directories."""

    bundle_dirs: tuple[Path, ...] = ()
    model_dir: Path | None = None

    @property
    def weights_dirs(self) -> tuple[Path, ...]:
        return ((self.model_dir,) if self.model_dir else ()) + self.bundle_dirs


def _description_files(search: BundleSearch) -> Iterator[tuple[Path, bool]]:
    for directory in search.bundle_dirs:
        if (directory / BUNDLE_FILE).is_file():
            yield directory / BUNDLE_FILE, False
        elif directory.is_dir():
            yield from ((path, False) for path in sorted(directory.glob(f"*/{BUNDLE_FILE}")))
    yield from ((path, True) for path in sorted(BUILTIN_BUNDLES_DIR.glob("*.json")))


def builtin_bundle(name: str) -> ModelBundle:
    """The built-in description `recognition/bundles/NAME.json`; raises ModelLoadError when absent."""
    return read_bundle_file(BUILTIN_BUNDLES_DIR / f"{name}.json")


def _claimed_names(path: Path) -> frozenset[str]:
    """The names an unreadable description may stand for: its folder's (or built-in file's) and its JSON's."""
    names = {path.parent.name if path.name == BUNDLE_FILE else path.stem}
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return frozenset(names)
    if isinstance(document, dict) and isinstance(document.get("name"), str):
        names.add(document["name"])
    return frozenset(names)


def _entries(search: BundleSearch) -> Iterator[LocatedBundle | InvalidBundle]:
    for path, is_builtin in _description_files(search):
        try:
            yield LocatedBundle(bundle=read_bundle_file(path), path=path, is_builtin=is_builtin)
        except ModelLoadError as exc:
            yield InvalidBundle(path=path, problem=str(exc), claimed_names=_claimed_names(path))


def scan_bundles(search: BundleSearch) -> BundleScan:
    """Every bundle description found: one valid bundle per name (configured directories before
    built-ins), and every description that could not be read or validated."""
    found: dict[str, LocatedBundle] = {}
    invalid: list[InvalidBundle] = []
    for entry in _entries(search):
        if isinstance(entry, InvalidBundle):
            invalid.append(entry)
        else:
            found.setdefault(entry.bundle.name, entry)
    return BundleScan(bundles=list(found.values()), invalid=invalid)


def find_bundle(name: str, search: BundleSearch) -> LocatedBundle:
    """The first bundle called `name`; invalid descriptions of other bundles are logged and skipped.

    Raises:
        ModelLoadError: no bundle has that name, or the first description standing for it is invalid.
    """
    entries = list(_entries(search))
    for entry in entries:
        if isinstance(entry, InvalidBundle):
            logger.warning("skipped an invalid model bundle description: %s", entry.problem)
    for entry in entries:
        if isinstance(entry, LocatedBundle) and entry.bundle.name == name:
            return entry
        if isinstance(entry, InvalidBundle) and name in entry.claimed_names:
            raise ModelLoadError(entry.problem)
    installed = sorted({entry.bundle.name for entry in entries if isinstance(entry, LocatedBundle)})
    raise ModelLoadError(f"no model bundle named {name!r}; installed: {', '.join(installed)}")


def description_path_for_changes(located: LocatedBundle, search: BundleSearch) -> Path:
    """Where a changed description of this bundle (its calibration) is written, so that every later search
    finds it: its own file for a bundle of a bundle directory; for a built-in one, `NAME/bundle.json` in the
    first bundle directory that exists and holds bundles in folders (bundle directories are searched before
    the built-ins, and its weights are still found where they were). A built-in description is never
    rewritten: it lies in the installed package, which may be read-only and which an upgrade replaces.

    Raises:
        ModelLoadError: a built-in bundle, and no bundle directory to write its copy into.
    """
    if not located.is_builtin:
        return located.path
    for directory in search.bundle_dirs:
        if directory.is_dir() and not (directory / BUNDLE_FILE).is_file():
            return directory / located.bundle.name / BUNDLE_FILE
    tried = ", ".join(map(str, search.bundle_dirs)) or "none configured"
    raise ModelLoadError(
        f"bundle {located.bundle.name} is built in (its description lies in the installed package, never "
        f"changed): a changed copy goes into a bundle directory (FACEGATE_RECOGNITION_BUNDLE_DIRS), and "
        f"none exists that holds bundles in folders ({tried})"
    )


def _weights_candidates(located: LocatedBundle, search: BundleSearch) -> Iterator[Path]:
    filename = located.bundle.weights_file
    if located.directory is not None:
        yield located.directory / filename
    for directory in search.weights_dirs:
        yield directory / filename
        if directory.is_dir():
            yield from sorted(directory.glob(f"*/{filename}"))
    if located.bundle.weights_package:
        package, _, subdir = located.bundle.weights_package.partition("/")
        found = importlib.util.find_spec(package)
        if found is not None and found.submodule_search_locations:
            yield Path(next(iter(found.submodule_search_locations))) / subdir / filename


def locate_weights(located: LocatedBundle, search: BundleSearch) -> Path:
    """The verified weights file of a bundle.

    Raises:
        ModelLoadError: no copy exists, or the first copy found fails its sha256 check.
    """
    bundle = located.bundle
    for candidate in _weights_candidates(located, search):
        if not candidate.is_file():
            continue
        actual = sha256_of(candidate)
        if actual != bundle.weights_sha256:
            raise ModelLoadError(
                f"{candidate}: sha256 {actual} does not match {bundle.weights_sha256}, "
                f"pinned by bundle {bundle.model_id}"
            )
        return candidate
    raise ModelLoadError(
        f"bundle {bundle.model_id}: weights {bundle.weights_file} not found beside {located.path}, "
        f"in {', '.join(map(str, search.weights_dirs)) or 'no model directory'}"
        + (f" or in package {bundle.weights_package}" if bundle.weights_package else "")
    )
