"""Find model bundles by name, and their weights by file name and sha256, with no code change.

Bundle descriptions come from two places, searched in this order (the first bundle of a name wins):
each configured bundle directory (`DIR/bundle.json`, or `DIR/NAME/bundle.json` as the trainer exports
them), then the built-in descriptions shipped in `recognition/bundles/NAME.json`. A bundle's weights
file is searched beside its `bundle.json`, then in the model directory and every bundle directory
(top level and one folder down, the layout of the shared data set's `weights/`), then in the package
the bundle names. The first copy found must match the pinned sha256: a mismatch is an error, never a
reason to keep looking.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recognition.bundle import BUNDLE_FILE, ModelBundle, read_bundle_file
from recognition.errors import ModelLoadError
from recognition.model_files import sha256_of

BUILTIN_BUNDLES_DIR = Path(__file__).resolve().parent / "bundles"


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


def list_bundles(search: BundleSearch) -> list[LocatedBundle]:
    """Every bundle description found, one per name (configured directories before built-ins).

    Raises:
        ModelLoadError: a description file is unreadable or invalid (named in the message).
    """
    found: dict[str, LocatedBundle] = {}
    for path, is_builtin in _description_files(search):
        bundle = read_bundle_file(path)
        found.setdefault(bundle.name, LocatedBundle(bundle=bundle, path=path, is_builtin=is_builtin))
    return list(found.values())


def find_bundle(name: str, search: BundleSearch) -> LocatedBundle:
    """The bundle called `name`.

    Raises:
        ModelLoadError: no bundle has that name, or a description file is invalid.
    """
    bundles = {located.bundle.name: located for located in list_bundles(search)}
    if name not in bundles:
        raise ModelLoadError(f"no model bundle named {name!r}; installed: {', '.join(sorted(bundles))}")
    return bundles[name]


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
