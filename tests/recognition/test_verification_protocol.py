"""Verification metrics against known answers and brute-force references (K4); pair-set parsing."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from recognition import EvaluationDataError, evaluate_verification, parse_lfw_pairs, read_verification_bin
from recognition.evaluation.protocol import (
    accuracy_at,
    best_threshold,
    k_fold_accuracy,
    roc_curve,
    tar_at_far,
    threshold_candidates,
)


def _random_pairs(seed: int, *, count: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping genuine and impostor scores rounded to 2 decimals (many ties), 10 contiguous folds."""
    rng = np.random.default_rng(seed)
    is_same = np.tile(np.repeat([True, False], count // 20), 10)
    scores = np.where(is_same, rng.normal(0.5, 0.2, count), rng.normal(0.2, 0.2, count)).round(2)
    folds = np.repeat(np.arange(10), count // 10)
    return scores, is_same, folds


def _brute_force_threshold(scores: np.ndarray, is_same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy): every candidate, every pair, one at a time; first best wins."""
    best = (float("nan"), -1.0)
    for candidate in threshold_candidates(scores):
        correct = sum((score >= candidate) == same for score, same in zip(scores, is_same, strict=True))
        if correct / len(scores) > best[1]:
            best = (float(candidate), correct / len(scores))
    return best


def test_perfectly_separable_scores_give_accuracy_one_and_tar_one() -> None:
    rng = np.random.default_rng(0)
    is_same = np.tile(np.repeat([True, False], 300), 10)
    scores = np.where(is_same, rng.uniform(0.6, 0.9, 6000), rng.uniform(-0.2, 0.3, 6000))
    report = evaluate_verification(scores, is_same, np.repeat(np.arange(10), 600))
    assert report.pairs == 6000
    assert report.folds.mean == 1.0 and report.folds.std == 0.0
    assert all(0.3 < threshold < 0.6 for threshold in report.folds.thresholds)
    assert report.at_far_1e3.tar == 1.0 and report.at_far_1e3.far <= 1e-3


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_matches_brute_force(seed: int) -> None:
    scores, is_same, _ = _random_pairs(seed)
    threshold, accuracy = _brute_force_threshold(scores, is_same)
    assert best_threshold(scores, is_same) == threshold
    assert accuracy_at(scores, is_same, threshold) == pytest.approx(accuracy)


@pytest.mark.parametrize("seed", range(3))
def test_ten_fold_accuracy_matches_brute_force(seed: int) -> None:
    scores, is_same, folds = _random_pairs(seed)
    result = k_fold_accuracy(scores, is_same, folds)
    expected = []
    for fold in range(10):
        train, test = folds != fold, folds == fold
        threshold, _ = _brute_force_threshold(scores[train], is_same[train])
        hits = [(s >= threshold) == same for s, same in zip(scores[test], is_same[test], strict=True)]
        expected.append(sum(hits) / len(hits))
    assert result.accuracies == pytest.approx(expected)
    assert result.mean == pytest.approx(np.mean(expected)) and result.std == pytest.approx(np.std(expected))


def test_tar_at_far_allows_at_most_floor_far_n_impostors() -> None:
    impostor = np.arange(1000) / 1000.0  # the two highest are 0.998 and 0.999
    genuine = np.array([0.9985, 0.9995, 0.5])
    scores = np.concatenate([genuine, impostor])
    is_same = np.arange(len(scores)) < len(genuine)
    point = tar_at_far(scores, is_same, far=1e-3)
    assert 0.998 < point.threshold <= 0.999
    assert point.far == pytest.approx(1e-3) and point.tar == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(3))
def test_tar_at_far_matches_brute_force(seed: int) -> None:
    scores, is_same, _ = _random_pairs(seed, count=4000)
    impostor_count = int((~is_same).sum())
    lowest = None
    for candidate in sorted({*scores, *np.nextafter(scores, np.inf)}, reverse=True):
        if sum(s >= candidate for s in scores[~is_same]) / impostor_count > 1e-2:
            break
        lowest = candidate
    point = tar_at_far(scores, is_same, far=1e-2)
    assert point.threshold == lowest
    assert point.tar == pytest.approx(np.mean(scores[is_same] >= lowest))


def test_roc_curve_runs_from_zero_to_one_and_matches_each_threshold() -> None:
    scores, is_same, _ = _random_pairs(7)
    roc = roc_curve(scores, is_same)
    assert (roc.far[0], roc.tar[0]) == (0.0, 0.0) and (roc.far[-1], roc.tar[-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc.far) >= 0) and np.all(np.diff(roc.tar) >= 0)
    for far, tar, threshold in zip(roc.far[1:], roc.tar[1:], roc.thresholds[1:], strict=True):
        assert tar == np.mean(scores[is_same] >= threshold) and far == np.mean(scores[~is_same] >= threshold)


def test_missing_pair_kinds_or_folds_are_refused() -> None:
    scores = np.linspace(0, 1, 20)
    with pytest.raises(EvaluationDataError, match="both genuine and impostor"):
        evaluate_verification(scores, np.ones(20, dtype=bool), np.repeat(np.arange(2), 10))
    with pytest.raises(EvaluationDataError, match="at least two folds"):
        evaluate_verification(scores, np.arange(20) < 10, np.zeros(20, dtype=np.int64))
    with pytest.raises(EvaluationDataError, match="lack genuine or impostor"):
        evaluate_verification(scores, np.arange(20) < 10, np.repeat(np.arange(2), 10))


PAIRS_TXT = """2\t2
Ann\t1\t2
Bob\t1\t3
Ann\t1\tCarl\t2
Bob\t2\tDora\t1
Eve\t1\t2
Fay\t3\t4
Eve\t1\tGus\t1
Hal\t1\tIda\t11
"""


def test_pairs_txt_folds_are_matched_then_mismatched_blocks() -> None:
    pairs = parse_lfw_pairs(PAIRS_TXT)
    assert len(pairs) == 8
    assert pairs.folds.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert pairs.is_same.tolist() == [True, True, False, False] * 2
    assert (pairs.first[0], pairs.second[0]) == ("Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg")
    assert (pairs.first[7], pairs.second[7]) == ("Hal/Hal_0001.jpg", "Ida/Ida_0011.jpg")
    assert pairs.image_keys()[:4] == [
        "Ann/Ann_0001.jpg",
        "Ann/Ann_0002.jpg",
        "Bob/Bob_0001.jpg",
        "Bob/Bob_0003.jpg",
    ]
    assert len(pairs.image_keys()) == 14  # Ann_0001 and Eve_0001 are used twice


def test_limited_keeps_the_first_pairs_of_each_kind_in_every_fold() -> None:
    limited = parse_lfw_pairs(PAIRS_TXT).limited(4)
    assert limited.first == ("Ann/Ann_0001.jpg", "Ann/Ann_0001.jpg", "Eve/Eve_0001.jpg", "Eve/Eve_0001.jpg")
    assert limited.is_same.tolist() == [True, False, True, False]
    assert limited.folds.tolist() == [0, 0, 1, 1]
    with pytest.raises(EvaluationDataError, match="fewer than one"):
        parse_lfw_pairs(PAIRS_TXT).limited(3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "header"),
        ("ten\t300\n", "header"),
        (PAIRS_TXT.replace("Hal\t1\tIda\t11\n", ""), "promises 8 pairs, the file has 7"),
        (PAIRS_TXT.replace("Bob\t1\t3", "Bob\t1\tZed\t3"), "line 3: expected a matched pair"),
    ],
)
def test_malformed_pairs_txt_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(EvaluationDataError, match=message):
        parse_lfw_pairs(text)


def test_bin_reader_loads_python2_style_and_protocol_2_pickles(tmp_path: Path) -> None:
    images = [b"\x89PNG-a", b"\x89PNG-b", b"\xff\xd8jpeg-c", b"\xff\xd8jpeg-d"] * 10
    path = tmp_path / "set.bin"
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        path.write_bytes(pickle.dumps((images, [True, False] * 10), protocol=protocol))
        verification = read_verification_bin(path)
        assert verification.images == tuple(images)
        assert verification.pairs.first[:2] == ("0", "2") and verification.pairs.second[:2] == ("1", "3")
        assert verification.pairs.is_same.tolist() == [True, False] * 10
        assert verification.pairs.folds.tolist() == np.repeat(np.arange(10), 2).tolist()


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pickle.dumps(([_RunsCode(), b"x"], [True])), "refusing to load builtins.print"),
        (pickle.dumps(([b"a", b"b", b"c"], [True])), "3 images for 1 pairs"),
        (pickle.dumps(([1, 2], [True])), "not encoded image bytes"),
        (b"not a pickle", "not an insightface verification .bin"),
    ],
)
def test_bin_reader_refuses_code_and_inconsistent_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(EvaluationDataError, match=message):
        read_verification_bin(path)
