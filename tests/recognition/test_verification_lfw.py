"""LFW View 2 on the shared copy: the ten-fold split of pairs.txt, real pair scores, a .bin of real crops."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from recognition import (
    PairList,
    Recognizer,
    embed_photos,
    evaluate_verification,
    pair_scores,
    parse_lfw_pairs,
    read_verification_bin,
)
from tests.data import lfw, write_verification_bin

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def lfw_pairs() -> PairList:
    return parse_lfw_pairs((lfw() / "pairs.txt").read_text())


def test_pairs_txt_is_ten_folds_of_300_matched_then_300_mismatched(lfw_pairs: PairList) -> None:
    assert len(lfw_pairs) == 6000
    for fold in range(10):
        in_fold = np.flatnonzero(lfw_pairs.folds == fold)
        assert in_fold.tolist() == list(range(600 * fold, 600 * (fold + 1)))
        assert lfw_pairs.is_same[in_fold[:300]].all() and not lfw_pairs.is_same[in_fold[300:]].any()
    assert (lfw_pairs.first[0], lfw_pairs.second[0]) == (
        "Abel_Pacheco/Abel_Pacheco_0001.jpg",
        "Abel_Pacheco/Abel_Pacheco_0004.jpg",
    )
    keys = lfw_pairs.image_keys()
    assert len(keys) == 7701
    assert all((lfw() / "lfw-deepfunneled" / key).is_file() for key in keys)


def _embedded(recognizer: Recognizer, pairs: PairList):
    images = lfw() / "lfw-deepfunneled"
    photos = ((key, (images / key).read_bytes()) for key in pairs.image_keys())
    return embed_photos(recognizer, photos, is_aligned=False, clock=time.perf_counter)


def test_a_known_same_pair_scores_above_a_known_different_pair(
    recognizer: Recognizer, lfw_pairs: PairList
) -> None:
    # Pair 1 (Abel_Pacheco 1 and 4) is matched, pair 301 (Abdel_Madi_Shabneh 1, Dean_Barker 1) is not.
    chosen = PairList(
        first=(lfw_pairs.first[0], lfw_pairs.first[300]),
        second=(lfw_pairs.second[0], lfw_pairs.second[300]),
        is_same=lfw_pairs.is_same[[0, 300]],
        folds=lfw_pairs.folds[[0, 300]],
    )
    same, different = pair_scores(_embedded(recognizer, chosen), chosen)
    assert same > recognizer.cos_threshold > different


def test_a_bin_of_aligned_crops_scores_exactly_like_the_photos(
    recognizer: Recognizer, lfw_pairs: PairList, tmp_path: Path
) -> None:
    subset = lfw_pairs.limited(40)
    images = lfw() / "lfw-deepfunneled"
    photo_pairs = [
        (images / first, images / second, bool(same))
        for first, second, same in zip(subset.first, subset.second, subset.is_same, strict=True)
    ]
    write_verification_bin(tmp_path / "lfw-subset.bin", recognizer, photo_pairs)
    verification = read_verification_bin(tmp_path / "lfw-subset.bin")
    assert len(verification.images) == 80 and verification.pairs.is_same.tolist() == subset.is_same.tolist()
    crops = embed_photos(
        recognizer,
        ((key, verification.images[int(key)]) for key in verification.pairs.image_keys()),
        is_aligned=True,
        clock=time.perf_counter,
    )
    from_bin = pair_scores(crops, verification.pairs)
    np.testing.assert_allclose(from_bin, pair_scores(_embedded(recognizer, subset), subset), atol=1e-6)
    report = evaluate_verification(from_bin, verification.pairs.is_same, verification.pairs.folds)
    assert report.folds.mean > 0.9
