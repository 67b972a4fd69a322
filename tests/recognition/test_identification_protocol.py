"""Open-set identification metrics and split against known answers and brute-force references (K4)."""

from __future__ import annotations

import numpy as np
import pytest

from recognition import (
    EmbeddedPhotos,
    EvaluationDataError,
    IdentificationSplit,
    Recognizer,
    evaluate_identification,
    search_gallery,
    split_identification,
)
from recognition.evaluation.identification import fnir_at, fnir_at_fpir, fpir_at, mate_scores_at_rank1


def test_known_answers_for_rank1_fnir_and_fpir() -> None:
    mate_rank1 = mate_scores_at_rank1(
        np.array([0, 1, 2, 0]), np.array([0.995, 0.985, 0.8, 0.3]), np.array([0, 1, 0, 0])
    )
    assert mate_rank1.tolist() == [0.995, 0.985, -np.inf, 0.3]
    nonmated_top = np.arange(100) / 100.0
    assert fnir_at(mate_rank1, 0.4) == 0.5 and fpir_at(nonmated_top, 0.5) == 0.5
    report = evaluate_identification(mate_rank1, nonmated_top)
    assert report.mated_searches == 4 and report.nonmated_searches == 100 and report.rank1 == 0.75
    # FPIR 1e-2 of 100 searches lets one through: the threshold sits just above 0.98.
    assert report.at_fpir_1e2.threshold == np.nextafter(0.98, np.inf)
    assert report.at_fpir_1e2.fpir == 0.01 and report.at_fpir_1e2.fnir == 0.5
    # FPIR 1e-3 of 100 lets none through: just above 0.99, so the 0.985 mate is missed too.
    assert report.at_fpir_1e3.fpir == 0.0 and report.at_fpir_1e3.fnir == 0.75


def _brute_force(
    scores: np.ndarray, mates: np.ndarray, nonmated: np.ndarray, fpir: float
) -> tuple[float, float]:
    """(threshold, FNIR) from score matrices by the definitions, one search and one threshold at a time."""
    nonmated_tops = [max(row) for row in nonmated]
    candidates = sorted({-np.inf, *(np.nextafter(top, np.inf) for top in nonmated_tops)})
    for threshold in candidates:  # lowest first: the first one within the FPIR target wins
        false_positives = sum(1 for top in nonmated_tops if top >= threshold)
        if false_positives <= fpir * len(nonmated_tops) + 1e-9:
            break
    misses = 0
    for row, mate in zip(scores, mates, strict=True):
        best = max(range(len(row)), key=lambda identity: row[identity])
        misses += not (best == mate and row[best] >= threshold)
    return float(threshold), misses / len(mates)


@pytest.mark.parametrize("seed", range(4))
def test_fnir_at_fpir_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mates = rng.integers(0, 30, 300)
    scores = rng.normal(0.1, 0.15, (300, 30))
    scores[np.arange(300), mates] += rng.uniform(0.0, 0.8, 300)
    nonmated = rng.normal(0.1, 0.15, (1500, 30)).round(3)  # many tied top scores
    mate_rank1 = mate_scores_at_rank1(scores.argmax(axis=1), scores.max(axis=1), mates)
    assert np.mean(np.isfinite(mate_rank1)) == np.mean(scores.argmax(axis=1) == mates)
    for fpir in (1e-1, 1e-2, 1e-3):
        point = fnir_at_fpir(mate_rank1, nonmated.max(axis=1), fpir=fpir)
        threshold, fnir = _brute_force(scores, mates, nonmated, fpir)
        assert point.threshold == threshold and point.fnir == pytest.approx(fnir)
        assert point.fpir <= fpir


def test_evaluate_identification_needs_both_kinds_of_search() -> None:
    with pytest.raises(EvaluationDataError, match="0 mated"):
        evaluate_identification(np.array([]), np.array([0.1]))


def test_split_enrolls_the_first_photos_and_probes_with_the_rest_in_sorted_order() -> None:
    photos = {
        "Bob": ["Bob/3.jpg", "Bob/1.jpg", "Bob/2.jpg", "Bob/4.jpg"],
        "Ann": [f"Ann/{n}.jpg" for n in range(5)],
        "Cid": ["Cid/1.jpg", "Cid/2.jpg"],
        "Zed": ["Zed/1.jpg"],
        "Dee": ["Dee/1.jpg"],
    }
    split = split_identification(photos, min_photos=4, enroll_photos=2)
    assert split.identities == ("Ann", "Bob")
    assert split.gallery == (("Ann/0.jpg", 0), ("Ann/1.jpg", 0), ("Bob/1.jpg", 1), ("Bob/2.jpg", 1))
    assert split.mated == (
        ("Ann/2.jpg", 0),
        ("Ann/3.jpg", 0),
        ("Ann/4.jpg", 0),
        ("Bob/3.jpg", 1),
        ("Bob/4.jpg", 1),
    )
    assert split.nonmated == ("Dee/1.jpg", "Zed/1.jpg")
    assert len(split.image_keys()) == 11 and "Cid/1.jpg" not in split.image_keys()
    limited = split_identification(photos, min_photos=4, enroll_photos=1, limit_people=1)
    assert limited.identities == ("Ann",) and len(limited.mated) == 4 and limited.nonmated == ("Dee/1.jpg",)
    with pytest.raises(EvaluationDataError, match="enroll photos"):
        split_identification(photos, min_photos=4, enroll_photos=4)
    with pytest.raises(EvaluationDataError, match="0 people"):
        split_identification(photos, min_photos=6, enroll_photos=1)


def test_search_gallery_uses_each_persons_best_template_like_a_brute_force_search(
    recognizer: Recognizer,
) -> None:
    rng = np.random.default_rng(7)
    dim = recognizer.embedder.dim

    def unit(count: int) -> np.ndarray:
        vectors = rng.normal(size=(count, dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    gallery_vectors, probes = unit(40), unit(60)
    probes[:30] = gallery_vectors[:30] + 0.5 * probes[:30]  # half of the probes sit near a template
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    split = IdentificationSplit(
        identities=tuple(f"p{i}" for i in range(20)),
        gallery=tuple((f"g{i}", i // 2) for i in range(40)),
        mated=tuple((f"m{i}", (i * 7) % 20) for i in range(50)),
        nonmated=tuple(f"n{i}" for i in range(50, 60)),
    )
    vectors = {f"g{i}": vector for i, vector in enumerate(gallery_vectors)}
    vectors |= {f"m{i}": probes[i] for i in range(50)} | {f"n{i}": probes[i] for i in range(50, 60)}
    scores = search_gallery(
        recognizer, EmbeddedPhotos(vectors=vectors, detect_failures=(), embed_s=0.0), split
    )
    per_person = (
        (probes.astype(np.float64) @ gallery_vectors.T.astype(np.float64)).reshape(60, 20, 2).max(axis=2)
    )
    mates = np.array([mate for _, mate in split.mated])
    expected = np.where(per_person[:50].argmax(axis=1) == mates, per_person[:50].max(axis=1), -np.inf)
    np.testing.assert_allclose(scores.mate_rank1, expected, atol=1e-5)
    np.testing.assert_allclose(scores.nonmated_top, per_person[50:].max(axis=1), atol=1e-5)
    assert np.isfinite(scores.mate_rank1).any() and not np.isfinite(scores.mate_rank1).all()
