"""A PAD calibration's attack evidence: APCER per species read off the stored scores, against a brute-force
count; the order statistics kept for a large set; cards written before it existed still load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from recognition import (
    MINIFASNET_SOURCES,
    AttackSpeciesScores,
    BpcerPoint,
    EvaluationDataError,
    PadAttackEvidence,
    PadCalibration,
    PadTrackRule,
    attack_evidence,
    read_pad_card,
    write_pad_card,
)
from recognition.pad.attack_evidence import MAX_STORED_SCORES


def _brute_apcer(scores: list[float], threshold: float) -> float:
    """Loop over every attack: the share the threshold classifies bona fide (score not above it)."""
    let_through = 0
    for score in scores:
        if not score > threshold:
            let_through += 1
    return let_through / len(scores)


def test_apcer_per_species_is_the_share_of_attacks_at_or_below_the_threshold() -> None:
    rng = np.random.default_rng(0)
    scores = {"print": list(rng.random(300)), "screen_replay": [*rng.random(299), 0.5]}
    evidence = attack_evidence(scores, {"print": 2}, dataset="sim", paths_sha256="a" * 64)

    assert [e.species for e in evidence.species] == ["print", "screen_replay"]
    assert [(e.scored_count, e.detection_failures, e.is_exact) for e in evidence.species] == [
        (300, 2, True),
        (300, 0, True),
    ]
    for threshold in (0.0, 0.1, 0.5, 0.844, 0.9994, 1.0, *scores["print"][:20]):
        expected = {s: _brute_apcer(v, threshold) for s, v in scores.items()}
        assert evidence.apcer_at(threshold) == expected
    assert evidence.apcer_at(0.5)["screen_replay"] == _brute_apcer(scores["screen_replay"], 0.5)


def test_a_large_set_keeps_order_statistics_that_read_apcer_within_a_tenth_of_a_point() -> None:
    scores = list(np.random.default_rng(1).beta(5, 1, size=12_345))
    (entry,) = attack_evidence({"print": scores}, {}, dataset="sim", paths_sha256="a" * 64).species

    assert len(entry.scores) == MAX_STORED_SCORES and entry.scored_count == 12_345 and not entry.is_exact
    assert (entry.scores[0], entry.scores[-1]) == (min(scores), max(scores))
    for threshold in np.linspace(0.0, 1.0, 201):
        assert entry.apcer_at(float(threshold)) == pytest.approx(_brute_apcer(scores, threshold), abs=1e-3)


def test_stored_scores_must_be_sorted_sized_and_one_entry_a_species() -> None:
    with pytest.raises(ValidationError, match="sorted ascending"):
        AttackSpeciesScores(species="print", scored_count=2, detection_failures=0, scores=(0.9, 0.1))
    with pytest.raises(ValidationError, match="3 scores stored, expected 2"):
        AttackSpeciesScores(species="print", scored_count=2, detection_failures=0, scores=(0.1, 0.2, 0.3))
    entry = AttackSpeciesScores(species="print", scored_count=1, detection_failures=0, scores=(0.5,))
    with pytest.raises(ValidationError, match="one entry per attack species"):
        PadAttackEvidence(dataset="sim", paths_sha256="a" * 64, species=(entry, entry))
    with pytest.raises(EvaluationDataError, match="no attack presentation was scored"):
        attack_evidence({"print": []}, {"print": 3}, dataset="sim", paths_sha256="a" * 64)


def test_a_card_without_attack_evidence_still_loads_and_one_with_it_round_trips(tmp_path: Path) -> None:
    pinned = MINIFASNET_SOURCES[0]
    net = {
        "variant": pinned.variant, "file": "v2.onnx", "sha256": "1" * 64, "scale": pinned.scale,
        "source_sha256": pinned.sha256,
    }  # fmt: skip
    point = {"bpcer": 0.01, "attack_threshold": 0.844}
    older = {"dataset": "LFW", "bona_fide_count": 1565, "points": [point]}  # as cards before the field
    path = tmp_path / "pad.json"
    path.write_text(json.dumps({"model_id": "m", "nets": [net], "calibration": older}))

    card = read_pad_card(path)

    assert card.calibration is not None and card.calibration.attack_evidence is None
    evidence = attack_evidence({"print": [0.2, 0.9]}, {}, dataset="sim", paths_sha256="a" * 64)
    calibration = PadCalibration(
        dataset="LFW",
        bona_fide_count=1565,
        points=(BpcerPoint(bpcer=0.01, attack_threshold=0.844),),
        attack_evidence=evidence,
    )
    write_pad_card(card.model_copy(update={"grey_calibration": None, "calibration": calibration}), path)
    assert read_pad_card(path).calibration == calibration
    assert read_pad_card(path).calibration.attack_evidence.apcer_at(0.844) == {"print": 0.5}  # type: ignore[union-attr]


def test_a_track_rules_evidence_records_its_colour_and_one_written_before_reads_as_colour(
    tmp_path: Path,
) -> None:
    """A rule's attack tracks carry the colour the gate recorded for them (stills' evidence none: its
    calibration's colour is theirs). A card whose rule evidence was written before (its JSON then: one, in
    the rule's calibration, no colour) loads as the rule's colour evidence, what bench/pad_cues.py's clips
    always were; grey evidence is kept beside it, per colour, and both round-trip; a second of one colour,
    evidence naming no rule, or evidence both in the calibration and beside it are refused."""
    pinned = MINIFASNET_SOURCES[0]
    net = {
        "variant": pinned.variant, "file": "v2.onnx", "sha256": "1" * 64, "scale": pinned.scale,
        "source_sha256": pinned.sha256,
    }  # fmt: skip
    species = [{"species": "print", "scored_count": 2, "detection_failures": 0, "scores": [0.2, 0.9]}]
    then = {
        "dataset": "held-out tracks",
        "paths_sha256": "a" * 64,
        "species": species,
        "rule_sha256": "b" * 64,
    }
    stills = {"dataset": "sim", "paths_sha256": "a" * 64, "species": species}
    point = {"bpcer": 0.01, "attack_threshold": 0.5}
    rule_calibration = {
        "dataset": "tracks",
        "bona_fide_count": 10,
        "points": [point],
        "attack_evidence": then,
    }
    rule = {
        "features": ["passive"], "centre": [0.5], "scale": [0.25], "weights": [1.0], "intercept": 0.0,
        "calibration": rule_calibration, "fitted_on": "bench/pad_cues.py --seed 13",
    }  # fmt: skip
    calibration = {"dataset": "LFW", "bona_fide_count": 10, "points": [point], "attack_evidence": stills}
    path = tmp_path / "pad.json"
    path.write_text(
        json.dumps({"model_id": "m", "nets": [net], "calibration": calibration, "track_rule": rule})
    )

    card = read_pad_card(path)

    assert card.track_rule is not None and card.calibration is not None
    (old,) = card.track_rule.attack_evidence
    assert old.colour == "colour" and old.is_per_track and old.dataset == "held-out tracks"
    assert card.track_rule.calibration.attack_evidence is None
    assert (
        card.track_rule.attack_evidence_for("colour") == old
        and card.track_rule.attack_evidence_for("grey") is None
    )
    assert card.calibration.attack_evidence is not None and card.calibration.attack_evidence.colour is None
    grey = attack_evidence(
        {"print": [0.2, 0.9]},
        {},
        dataset="grey tracks",
        paths_sha256="a" * 64,
        rule_sha256="b" * 64,
        colour="grey",
    )
    both = card.track_rule.model_copy(update={"attack_evidence": (old, grey)})
    write_pad_card(card.model_copy(update={"track_rule": both}), path)
    read_back = read_pad_card(path).track_rule
    assert read_back == both and read_back is not None and read_back.attack_evidence_for("grey") == grey
    rule_then = {**rule, "attack_evidence": [then]}
    for wrong, why in (
        (
            {
                **rule_then,
                "calibration": {**rule_calibration, "attack_evidence": None},
                "attack_evidence": [then, then],
            },
            "one attack evidence per colour",
        ),
        (
            {**rule, "calibration": {**rule_calibration, "attack_evidence": stills}},
            "a rule's scores per track",
        ),
        (rule_then, "both in the rule's calibration"),
    ):
        with pytest.raises(ValidationError, match=why):
            PadTrackRule.model_validate(wrong)
    with pytest.raises(EvaluationDataError, match="need their colour"):
        attack_evidence({"print": [0.5]}, {}, dataset="sim", paths_sha256="a" * 64, rule_sha256="b" * 64)
    with pytest.raises(EvaluationDataError, match="need their colour"):
        attack_evidence({"print": [0.5]}, {}, dataset="sim", paths_sha256="a" * 64, colour="grey")
    with pytest.raises(ValidationError, match="records its tracks' colour"):
        PadAttackEvidence.model_validate({**then, "colour": None})
