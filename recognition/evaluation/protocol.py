"""Verification metrics on pair scores: k-fold accuracy (LFW View 2), TAR at a FAR, ROC curve.

Pure numpy. Everywhere a pair is predicted "same person" when its score is at or above the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recognition.errors import EvaluationDataError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FoldAccuracy:
    """Accuracy per test fold with the threshold chosen on the other folds (LFW View 2)."""

    accuracies: tuple[float, ...]
    thresholds: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        """Population standard deviation over the folds, as insightface and most papers report it."""
        return float(np.std(self.accuracies))


@dataclass(frozen=True)
class OperatingPoint:
    """True-accept rate at the threshold that keeps the false-accept rate at or below a target."""

    far_target: float
    threshold: float
    tar: float
    far: float


@dataclass(frozen=True)
class RocCurve:
    """ROC points for every distinct score as threshold, from (0, 0) to (1, 1); thresholds descending."""

    far: FloatArray
    tar: FloatArray
    thresholds: FloatArray


@dataclass(frozen=True)
class VerificationReport:
    """Everything `facegate eval lfw` reports about one set of scored pairs."""

    pairs: int
    folds: FoldAccuracy
    at_far_1e3: OperatingPoint
    roc: RocCurve


def accuracy_at(scores: FloatArray, is_same: BoolArray, threshold: float) -> float:
    """Fraction of pairs classified correctly by `score >= threshold`."""
    return float(np.mean((scores >= threshold) == is_same))


def threshold_candidates(scores: FloatArray) -> FloatArray:
    """Midpoints between consecutive distinct scores, plus one below the lowest and one above the highest."""
    distinct = np.unique(scores)
    midpoints = (distinct[:-1] + distinct[1:]) / 2.0
    return np.concatenate(([distinct[0] - 1.0], midpoints, [distinct[-1] + 1.0]))


def best_threshold(scores: FloatArray, is_same: BoolArray) -> float:
    """The candidate threshold with the highest accuracy on these pairs; ties go to the lowest one.

    Counts accepted genuine and rejected impostor pairs for every candidate at once with sorted
    scores, O(n log n); tests compare it with a loop over every candidate and pair.
    """
    candidates = threshold_candidates(scores)
    genuine = np.sort(scores[is_same])
    impostor = np.sort(scores[~is_same])
    accepted_genuine = len(genuine) - np.searchsorted(genuine, candidates, side="left")
    rejected_impostor = np.searchsorted(impostor, candidates, side="left")
    return float(candidates[int(np.argmax(accepted_genuine + rejected_impostor))])


def k_fold_accuracy(scores: FloatArray, is_same: BoolArray, folds: IntArray) -> FoldAccuracy:
    """For each fold: choose the threshold on all other folds, measure accuracy on this one.

    Args:
        scores: (n,) float64 pair similarities.
        is_same: (n,) bool, True for a genuine (same person) pair.
        folds: (n,) int fold number of each pair; at least two distinct folds.

    Raises:
        EvaluationDataError: fewer than two folds, or a training split without both kinds of pair.
    """
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise EvaluationDataError(f"k-fold accuracy needs at least two folds, got {len(fold_ids)}")
    accuracies, thresholds = [], []
    for fold in fold_ids:
        test = folds == fold
        train_same = is_same[~test]
        if train_same.all() or not train_same.any():
            raise EvaluationDataError(f"the folds other than {fold} lack genuine or impostor pairs")
        threshold = best_threshold(scores[~test], train_same)
        thresholds.append(threshold)
        accuracies.append(accuracy_at(scores[test], is_same[test], threshold))
    return FoldAccuracy(accuracies=tuple(accuracies), thresholds=tuple(thresholds))


def threshold_at_rate(impostor: FloatArray, *, rate: float) -> float:
    """The lowest threshold that accepts at most floor(rate·n) of n impostor scores (-inf if that is all).

    The threshold sits just above the (floor(rate·n)+1)-th highest impostor score.
    """
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(rate * len(ordered) + 1e-9))
    return -np.inf if allowed >= len(ordered) else float(np.nextafter(ordered[allowed], np.inf))


def tar_at_far(scores: FloatArray, is_same: BoolArray, *, far: float) -> OperatingPoint:
    """TAR at the lowest threshold whose impostor acceptance is at most `far` (over all pairs).

    With n impostor scores, at most floor(far·n) of them may be accepted (`threshold_at_rate`).
    """
    impostor = scores[~is_same]
    genuine = scores[is_same]
    threshold = threshold_at_rate(impostor, rate=far)
    return OperatingPoint(
        far_target=far,
        threshold=float(threshold),
        tar=float(np.mean(genuine >= threshold)),
        far=float(np.mean(impostor >= threshold)),
    )


def roc_curve(scores: FloatArray, is_same: BoolArray) -> RocCurve:
    """FAR and TAR with every distinct score as threshold, strictest first, starting at (0, 0)."""
    thresholds = np.concatenate(([np.inf], np.unique(scores)[::-1]))
    genuine = np.sort(scores[is_same])
    impostor = np.sort(scores[~is_same])
    tar = (len(genuine) - np.searchsorted(genuine, thresholds, side="left")) / len(genuine)
    far = (len(impostor) - np.searchsorted(impostor, thresholds, side="left")) / len(impostor)
    return RocCurve(far=far.astype(np.float64), tar=tar.astype(np.float64), thresholds=thresholds)


def evaluate_verification(scores: FloatArray, is_same: BoolArray, folds: IntArray) -> VerificationReport:
    """k-fold accuracy, TAR at FAR 1e-3 and the ROC curve of scored pairs.

    Raises:
        EvaluationDataError: the arrays differ in length, or genuine or impostor pairs are missing.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_same = np.asarray(is_same, dtype=np.bool_)
    if not len(scores) == len(is_same) == len(folds):
        raise EvaluationDataError(f"{len(scores)} scores, {len(is_same)} labels and {len(folds)} folds")
    if is_same.all() or not is_same.any():
        raise EvaluationDataError("verification needs both genuine and impostor pairs")
    return VerificationReport(
        pairs=len(scores),
        folds=k_fold_accuracy(scores, is_same, folds),
        at_far_1e3=tar_at_far(scores, is_same, far=1e-3),
        roc=roc_curve(scores, is_same),
    )
