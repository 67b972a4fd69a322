"""PAD calibration photo selections: the same rule picks the same photos in the same order, whatever order
the file system lists them in, and the digest names exactly those photos."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from recognition import (
    EvaluationDataError,
    all_photos,
    every_nth_person,
    listed_photos,
    people_outside,
    seeded_halves,
)

PEOPLE = ("b_person", "A_person", "a_person", "C_person", "a_Person")


def _tree(root: Path) -> Path:
    data = root / "faces"
    for index, person in enumerate(PEOPLE):
        (data / person).mkdir(parents=True)
        for photo in range(index % 3 + 1):
            (data / person / f"{person}_{photo}.jpg").write_bytes(b"x")
        (data / person / "notes.txt").write_text("not a photo")
    return data


def test_every_nth_person_takes_folders_in_code_point_order_from_the_offset(tmp_path: Path) -> None:
    data = _tree(tmp_path)
    # Code-point order: A_person, C_person, a_Person, a_person, b_person (not a locale's case-folded order).
    selection = every_nth_person(data, every_nth=2, offset=1)

    assert [p.parent.name for p in selection.paths] == ["C_person"] + ["a_person"] * 3
    assert selection.names[0] == "faces/C_person/C_person_0.jpg"
    assert "person folders 1, 3, 5, ... (0-based" in selection.rule
    assert every_nth_person(data, every_nth=2, offset=1) == selection


def test_the_digest_is_over_the_sorted_names_and_changes_with_one_photo(tmp_path: Path) -> None:
    data = _tree(tmp_path)
    selection = every_nth_person(data, every_nth=1)
    expected = hashlib.sha256("".join(f"{n}\n" for n in sorted(selection.names)).encode()).hexdigest()
    assert selection.sha256 == expected == all_photos([data]).sha256

    (data / "a_person" / "a_person_9.jpg").write_bytes(b"x")
    assert every_nth_person(data, every_nth=1).sha256 != expected


def test_a_list_file_selects_the_same_photos_as_the_rule_it_was_written_from(tmp_path: Path) -> None:
    data = _tree(tmp_path)
    rule = every_nth_person(data, every_nth=3, offset=2)
    listing = tmp_path / "photos.txt"
    listing.write_text("\n".join(str(p.relative_to(data)) for p in reversed(rule.paths)) + "\n\n")

    listed = listed_photos(data, listing)

    assert listed.paths == rule.paths and listed.sha256 == rule.sha256


def test_bad_selections_are_refused(tmp_path: Path) -> None:
    data = _tree(tmp_path)
    with pytest.raises(EvaluationDataError):
        every_nth_person(data, every_nth=2, offset=2)
    with pytest.raises(EvaluationDataError):
        every_nth_person(tmp_path / "faces" / "b_person", every_nth=1)  # no person folders
    with pytest.raises(EvaluationDataError, match="not a folder"):
        every_nth_person(tmp_path / "absent", every_nth=5)
    listing = tmp_path / "photos.txt"
    listing.write_text("a_person/missing.jpg\n")
    with pytest.raises(EvaluationDataError, match="missing"):
        listed_photos(data, listing)


def test_seeded_halves_are_the_first_permutation_draw_of_the_seed() -> None:
    people = sorted(f"s{n}" for n in range(1, 41))  # ORL's folder names, in code-point order
    fit, held_out = seeded_halves(people, 13)

    order = np.random.default_rng(13).permutation(len(people))
    assert fit == tuple(people[i] for i in order[:20]) and held_out == tuple(people[i] for i in order[20:])
    assert set(fit).isdisjoint(held_out) and set(fit) | set(held_out) == set(people)
    # the fit half bench/pad_cues.py --seed 13 fitted the track rule on (BENCHMARKS.md, track cues)
    assert sorted(fit) == sorted(
        "s1 s10 s11 s12 s15 s19 s20 s21 s22 s24 s25 s28 s3 s31 s36 s37 s39 s4 s5 s8".split()
    )
    assert seeded_halves(people, 14) != (fit, held_out)


def test_people_outside_never_draws_an_excluded_person_and_repeats_with_the_seed(tmp_path: Path) -> None:
    data = tmp_path / "lfw"
    names = [f"Person_{n:02d}" for n in range(30)]
    for name in names:
        (data / name).mkdir(parents=True)
        for photo in (2, 1):
            (data / name / f"{name}_{photo:04d}.jpg").write_bytes(b"x")
    (data / "No_Photos").mkdir()
    excluded = set(names[::3])

    selection = people_outside(data, excluded=excluded, count=20, seed=33)

    drawn = [path.parent.name for path in selection.paths]
    assert len(set(drawn)) == 20 and excluded.isdisjoint(drawn) and "No_Photos" not in drawn
    assert all(path.name.endswith("_0001.jpg") for path in selection.paths)  # the first photo of each
    assert people_outside(data, excluded=excluded, count=20, seed=33) == selection
    assert people_outside(data, excluded=excluded, count=19, seed=34) != selection
    with pytest.raises(EvaluationDataError, match="21 people asked for, 20 eligible"):
        people_outside(data, excluded=excluded, count=21, seed=33)
