"""Which bona fide photos a PAD calibration scores: a written rule, the photos it picks, and their digest.

A threshold at BPCER 1% is the score of the hundredth-worst photo, so one photo in or out can move it: on
LFW the 359 photos of every 20th person folder give 0.99988, the same set less its fourth-worst photo 0.9939
(BENCHMARKS.md, Presentation-attack detection). A calibration is reproducible only when the command
itself builds the selection from a rule, never from a folder someone assembled by hand, and records what
it built. Orders are Python's code-point order of names (`LC_ALL=C ls`), never the file system's
directory order, which changes whenever a data set is copied.

A photo's name in the digest is its data folder's name, then its path inside that folder, with `/`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.errors import EvaluationDataError
from recognition.pad.harness import image_paths


@dataclass(frozen=True)
class PhotoSelection:
    """The photos to score, sorted, with their names in the digest and the rule that chose them."""

    paths: tuple[Path, ...]
    names: tuple[str, ...]
    rule: str

    @property
    def sha256(self) -> str:
        """Hex sha256 over the sorted names, each followed by a newline (UTF-8)."""
        return names_sha256(self.names)


def names_sha256(names: Iterable[str]) -> str:
    """Hex sha256 over `names` sorted by code point, each followed by a newline (UTF-8)."""
    return hashlib.sha256("".join(f"{name}\n" for name in sorted(names)).encode()).hexdigest()


def _named(folder: Path, paths: Iterable[Path]) -> list[tuple[Path, str]]:
    return [(path, f"{folder.name}/{path.relative_to(folder).as_posix()}") for path in paths]


def _selection(chosen: list[tuple[Path, str]], rule: str) -> PhotoSelection:
    if not chosen:
        raise EvaluationDataError(f"no photos selected ({rule})")
    ordered = sorted(chosen, key=lambda item: item[1])
    return PhotoSelection(
        paths=tuple(path for path, _ in ordered), names=tuple(name for _, name in ordered), rule=rule
    )


def all_photos(folders: Iterable[Path]) -> PhotoSelection:
    """Every image under each folder, recursively.

    Raises:
        EvaluationDataError: no image in any folder.
    """
    folders = list(folders)
    chosen = [item for folder in folders for item in _named(folder, image_paths(folder))]
    return _selection(chosen, "all photos under " + ", ".join(folder.name for folder in folders))


def every_nth_person(folder: Path, *, every_nth: int, offset: int = 0) -> PhotoSelection:
    """The photos of every `every_nth` person folder (the subfolders of `folder` in code-point order of
    their names), starting at the folder with 0-based index `offset`.

    Raises:
        EvaluationDataError: `every_nth` < 1, `offset` outside 0..every_nth-1, `folder` is not a folder,
            or no photos selected.
    """
    if every_nth < 1 or not 0 <= offset < every_nth:
        raise EvaluationDataError(f"every_nth {every_nth} and offset {offset}: need 0 <= offset < every_nth")
    if not folder.is_dir():
        raise EvaluationDataError(f"{folder} is not a folder of person folders")
    people = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name)
    chosen = [item for person in people[offset::every_nth] for item in _named(folder, image_paths(person))]
    rule = (
        f"all photos of person folders {offset}, {offset + every_nth}, {offset + 2 * every_nth}, ... "
        f"(0-based, names in code-point order) of {folder.name}"
    )
    return _selection(chosen, rule)


def listed_photos(folder: Path, list_file: Path) -> PhotoSelection:
    """The photos named in `list_file`, one path relative to `folder` a line (blank lines ignored).

    Raises:
        EvaluationDataError: the list cannot be read, is empty, or names a file that is not there.
    """
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvaluationDataError(f"cannot read the photo list {list_file}: {exc}") from exc
    paths = [folder / line.strip() for line in lines if line.strip()]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise EvaluationDataError(f"{len(missing)} listed photos are missing, first {missing[0]}")
    return _selection(_named(folder, paths), f"the {len(paths)} photos listed in {list_file.name}")


def seeded_halves(names: Sequence[str], seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split `names` by the first draw of `numpy.random.default_rng(seed)`, a permutation of their indices:
    the first len // 2 in that order, then the rest (each half in permutation order).

    This is the draw `bench/pad_cues.py` makes first to split ORL's people into its fit and held-out halves,
    so the halves of a seed it used can be named without its data.
    """
    order = np.random.default_rng(seed).permutation(len(names))
    ranked = tuple(names[int(index)] for index in order)
    return ranked[: len(names) // 2], ranked[len(names) // 2 :]


def people_outside(folder: Path, *, excluded: Collection[str], count: int, seed: int) -> PhotoSelection:
    """The first photo (code-point order) of each of `count` person folders of `folder` drawn without
    replacement by `numpy.random.default_rng(seed)` from those whose names are not in `excluded`: a set
    disjoint by person from the sets whose people `excluded` lists.

    Raises:
        EvaluationDataError: `folder` is not a folder, `count` < 1, or fewer than `count` eligible folders
            with a photo.
    """
    if not folder.is_dir():
        raise EvaluationDataError(f"{folder} is not a folder of person folders")
    eligible = sorted(
        (p for p in folder.iterdir() if p.is_dir() and p.name not in excluded and image_paths(p)),
        key=lambda p: p.name,
    )
    if count < 1 or count > len(eligible):
        raise EvaluationDataError(f"{count} people asked for, {len(eligible)} eligible in {folder}")
    drawn = sorted(np.random.default_rng(seed).choice(len(eligible), size=count, replace=False).tolist())
    chosen = _named(folder, [image_paths(eligible[index])[0] for index in drawn])
    rule = (
        f"the first photo of {count} person folders of {folder.name} drawn with seed {seed}, "
        f"outside {len(excluded)} excluded names"
    )
    return _selection(chosen, rule)
