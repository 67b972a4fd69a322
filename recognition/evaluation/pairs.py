"""Verification pair sets: LFW View 2 `pairs.txt` and insightface-style `.bin` files."""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recognition.errors import EvaluationDataError
from recognition.evaluation.protocol import BoolArray, IntArray


@dataclass(frozen=True)
class PairList:
    """Pairs of image keys with their label and fold; keys name images in the set they came from."""

    first: tuple[str, ...]
    second: tuple[str, ...]
    is_same: BoolArray
    folds: IntArray

    def __len__(self) -> int:
        return len(self.first)

    def image_keys(self) -> list[str]:
        """Each distinct image once, in order of first use."""
        return list(dict.fromkeys(key for pair in zip(self.first, self.second, strict=True) for key in pair))

    def limited(self, max_pairs: int) -> PairList:
        """The first max_pairs / (2 × folds) genuine and as many impostor pairs of every fold.

        Raises:
            EvaluationDataError: max_pairs leaves less than one pair of each kind per fold.
        """
        fold_count = len(np.unique(self.folds))
        per_kind = max_pairs // (2 * fold_count)
        if per_kind < 1:
            raise EvaluationDataError(
                f"{max_pairs} pairs is fewer than one of each kind in {fold_count} folds"
            )
        keep = np.zeros(len(self), dtype=np.bool_)
        for fold in np.unique(self.folds):
            for kind in (True, False):
                keep[np.flatnonzero((self.folds == fold) & (self.is_same == kind))[:per_kind]] = True
        index = np.flatnonzero(keep)
        return PairList(
            first=tuple(self.first[i] for i in index),
            second=tuple(self.second[i] for i in index),
            is_same=self.is_same[index],
            folds=self.folds[index],
        )


def lfw_image_key(name: str, number: str) -> str:
    """Path of an LFW image relative to the images root: `Name/Name_0001.jpg`."""
    return f"{name}/{name}_{int(number):04d}.jpg"


def _lfw_pair(line: str, line_number: int, *, expect_same: bool) -> tuple[str, str]:
    fields = line.split()
    if expect_same and len(fields) == 3:
        return lfw_image_key(fields[0], fields[1]), lfw_image_key(fields[0], fields[2])
    if not expect_same and len(fields) == 4:
        return lfw_image_key(fields[0], fields[1]), lfw_image_key(fields[2], fields[3])
    kind = "a matched pair (name n1 n2)" if expect_same else "a mismatched pair (name1 n1 name2 n2)"
    raise EvaluationDataError(f"pairs.txt line {line_number}: expected {kind}, got {line!r}")


def parse_lfw_pairs(text: str) -> PairList:
    """Parse LFW View 2 `pairs.txt`: a header `folds<TAB>n`, then per fold n matched and n mismatched.

    Fold k is lines 2 + 2kn … 1 + 2(k+1)n of the file: its n matched pairs, then its n mismatched.

    Raises:
        EvaluationDataError: a bad header, a wrong line count, or a line of the wrong kind.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        fold_count, per_kind = (int(field) for field in lines[0].split())
    except (IndexError, ValueError) as exc:
        raise EvaluationDataError(f"pairs.txt header must be `folds n`, got {lines[:1]!r}") from exc
    if len(lines) - 1 != 2 * fold_count * per_kind:
        raise EvaluationDataError(
            f"pairs.txt header promises {2 * fold_count * per_kind} pairs, the file has {len(lines) - 1}"
        )
    position = np.arange(2 * fold_count * per_kind)
    is_same = position % (2 * per_kind) < per_kind
    pairs = [
        _lfw_pair(line, number, expect_same=bool(same))
        for number, line, same in zip(range(2, len(lines) + 1), lines[1:], is_same, strict=True)
    ]
    return PairList(
        first=tuple(first for first, _ in pairs),
        second=tuple(second for _, second in pairs),
        is_same=is_same,
        folds=(position // (2 * per_kind)).astype(np.int64),
    )


class _PlainDataUnpickler(pickle.Unpickler):
    """Loads lists, tuples, bytes and bools only: a .bin from the internet must not run code."""

    _ALLOWED = frozenset({("_codecs", "encode"), ("builtins", "bytes"), ("builtins", "bytearray")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a verification .bin")


@dataclass(frozen=True)
class VerificationBin:
    """An insightface verification set: aligned 112×112 encoded crops; pair i is images 2i and 2i+1."""

    images: tuple[bytes, ...]
    pairs: PairList


def _contiguous_folds(count: int, fold_count: int) -> IntArray:
    """Fold numbers of `count` pairs split into contiguous blocks, as insightface's unshuffled KFold does."""
    blocks = np.array_split(np.arange(count), fold_count)
    return np.concatenate([np.full(len(block), fold) for fold, block in enumerate(blocks)]).astype(np.int64)


def read_verification_bin(path: Path, *, fold_count: int = 10) -> VerificationBin:
    """Read a pickled `(bins, issame_list)` .bin (lfw.bin, cfp_fp.bin, agedb_30.bin, …).

    Raises:
        EvaluationDataError: the file is not such a pickle, or its image and pair counts disagree.
    """
    try:
        bins, issame = _PlainDataUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise EvaluationDataError(f"{path}: not an insightface verification .bin ({exc})") from exc
    if not all(isinstance(image, bytes | bytearray) for image in bins):
        raise EvaluationDataError(f"{path}: the images are not encoded image bytes")
    images = tuple(bytes(image) for image in bins)
    if len(images) != 2 * len(issame) or not issame:
        raise EvaluationDataError(f"{path}: {len(images)} images for {len(issame)} pairs")
    keys = [str(index) for index in range(len(images))]
    pairs = PairList(
        first=tuple(keys[0::2]),
        second=tuple(keys[1::2]),
        is_same=np.array([bool(flag) for flag in issame], dtype=np.bool_),
        folds=_contiguous_folds(len(issame), fold_count),
    )
    return VerificationBin(images=images, pairs=pairs)
