"""Open-set (1:N) identification in NIST FRVT terms: FNIR at a FPIR, rank-1 rate, and the LFW split.

Pure numpy. A search returns the gallery identities best first, each with its best template score. A
mated search's probe belongs to an enrolled identity (its mate); a non-mated search's does not.

- FPIR(t): fraction of non-mated searches whose top score is ≥ t.
- FNIR(t): fraction of mated searches where the mate is not returned at rank 1 with a score ≥ t.
- Rank-1 rate: fraction of mated searches whose top identity is the mate, whatever its score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recognition.errors import EvaluationDataError
from recognition.evaluation.protocol import FloatArray, IntArray, threshold_at_rate


@dataclass(frozen=True)
class IdentificationSplit:
    """Who is enrolled with which photos, and the mated and non-mated probe photos (image keys).

    Person ids are positions in `identities` (sorted names).
    """

    identities: tuple[str, ...]
    gallery: tuple[tuple[str, int], ...]
    """(image key, person id) of every enrolled photo."""
    mated: tuple[tuple[str, int], ...]
    """(image key, person id of its mate) of every mated probe."""
    nonmated: tuple[str, ...]
    """Image keys of the never-enrolled people's probes."""

    def image_keys(self) -> list[str]:
        """Every photo of the split once: gallery, then mated, then non-mated probes."""
        return [key for key, _ in self.gallery] + [key for key, _ in self.mated] + list(self.nonmated)


@dataclass(frozen=True)
class IdentificationPoint:
    """FNIR at the lowest threshold whose FPIR is at most a target."""

    fpir_target: float
    threshold: float
    fnir: float
    fpir: float


@dataclass(frozen=True)
class IdentificationReport:
    """Everything `facegate eval identify` reports about one set of searches."""

    mated_searches: int
    nonmated_searches: int
    rank1: float
    at_fpir_1e2: IdentificationPoint
    at_fpir_1e3: IdentificationPoint


def split_identification(
    photos_by_person: Mapping[str, Sequence[str]],
    *,
    min_photos: int,
    enroll_photos: int,
    limit_people: int | None = None,
) -> IdentificationSplit:
    """Enroll the first `enroll_photos` photos of everyone with at least `min_photos`; probe with the rest.

    Deterministic: names and each person's image keys are sorted. Non-mated probes are the photos of
    people with exactly one photo. `limit_people` keeps the first N enrolled and N single-photo people.

    Raises:
        EvaluationDataError: `enroll_photos` leaves no probe, or nobody is enrolled or never enrolled.
    """
    if not 1 <= enroll_photos < min_photos:
        raise EvaluationDataError(f"need 1 ≤ enroll photos ({enroll_photos}) < min photos ({min_photos})")
    names = sorted(photos_by_person)
    enrolled = [name for name in names if len(photos_by_person[name]) >= min_photos][:limit_people]
    singles = [name for name in names if len(photos_by_person[name]) == 1][:limit_people]
    if not enrolled or not singles:
        raise EvaluationDataError(
            f"{len(enrolled)} people with ≥ {min_photos} photos and {len(singles)} with one: need both"
        )
    gallery: list[tuple[str, int]] = []
    mated: list[tuple[str, int]] = []
    for person_id, name in enumerate(enrolled):
        keys = sorted(photos_by_person[name])
        gallery.extend((key, person_id) for key in keys[:enroll_photos])
        mated.extend((key, person_id) for key in keys[enroll_photos:])
    return IdentificationSplit(
        identities=tuple(enrolled),
        gallery=tuple(gallery),
        mated=tuple(mated),
        nonmated=tuple(photos_by_person[name][0] for name in singles),
    )


def mate_scores_at_rank1(top_ids: IntArray, top_scores: FloatArray, mate_ids: IntArray) -> FloatArray:
    """Per mated search, the rank-1 score when the rank-1 identity is the mate, else -inf."""
    return np.where(np.asarray(top_ids) == np.asarray(mate_ids), np.asarray(top_scores, np.float64), -np.inf)


def fpir_at(nonmated_top: FloatArray, threshold: float) -> float:
    """FPIR: fraction of non-mated searches whose top score is at or above the threshold."""
    return float(np.mean(nonmated_top >= threshold))


def fnir_at(mate_rank1: FloatArray, threshold: float) -> float:
    """FNIR: fraction of mated searches without the mate at rank 1 scoring at or above the threshold.

    Args:
        mate_rank1: (n,) float64 from `mate_scores_at_rank1` (-inf where the mate is not at rank 1).
    """
    return float(np.mean(~(mate_rank1 >= threshold)))


def fnir_at_fpir(mate_rank1: FloatArray, nonmated_top: FloatArray, *, fpir: float) -> IdentificationPoint:
    """FNIR at the lowest threshold that lets at most floor(fpir·n) of n non-mated searches through."""
    threshold = threshold_at_rate(nonmated_top, rate=fpir)
    return IdentificationPoint(
        fpir_target=fpir,
        threshold=threshold,
        fnir=fnir_at(mate_rank1, threshold),
        fpir=fpir_at(nonmated_top, threshold),
    )


def evaluate_identification(mate_rank1: FloatArray, nonmated_top: FloatArray) -> IdentificationReport:
    """Rank-1 rate and FNIR at FPIR 1e-2 and 1e-3.

    Args:
        mate_rank1: (m,) float64 mated searches, from `mate_scores_at_rank1`.
        nonmated_top: (n,) float64 top score of each non-mated search.

    Raises:
        EvaluationDataError: there are no mated or no non-mated searches.
    """
    mate_rank1 = np.asarray(mate_rank1, dtype=np.float64)
    nonmated_top = np.asarray(nonmated_top, dtype=np.float64)
    if not len(mate_rank1) or not len(nonmated_top):
        raise EvaluationDataError(f"{len(mate_rank1)} mated and {len(nonmated_top)} non-mated searches")
    return IdentificationReport(
        mated_searches=len(mate_rank1),
        nonmated_searches=len(nonmated_top),
        rank1=float(np.mean(np.isfinite(mate_rank1))),
        at_fpir_1e2=fnir_at_fpir(mate_rank1, nonmated_top, fpir=1e-2),
        at_fpir_1e3=fnir_at_fpir(mate_rank1, nonmated_top, fpir=1e-3),
    )
