"""bench/pad_cues.py --write-card at a small size: the rule it writes carries its own per-track attack scores.

Real ORL clips rendered by the bench (4 people, half held out), real MiniFASNet, the real gate; the card's
rule is then run by the gate itself on the held-out attack clips, and its per-track scores must be the
evidence, of the colour the gate records for those tracks.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.cli.pad_eval import video_track_scores
from bench import pad_cues
from gate import OpencvFrameSource, PadSettings
from recognition import (
    ATTACK_SPECIES,
    MINIFASNET_SOURCES,
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    PadCard,
    PadNet,
    PadTrackRule,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    build_pad_detector,
    calibrate_pad,
    grey_frame,
    names_sha256,
    read_pad_card,
    write_pad_card,
)
from storage import StorageSettings
from tests.data import SHARED_DATA_DIR, orl
from tests.gate.pad_support import hand_set_rule

pytestmark = pytest.mark.model

ROUNDING = 2e-4
"""The bench fits on the cues as events record them (4 decimals); the gate scores the unrounded values."""


def _run_bench(out: Path, capsys: pytest.CaptureFixture[str], *options: str) -> dict[str, Any]:
    """bench/pad_cues.py --write-card as BENCHMARKS runs it, small: its last stdout line."""
    argv = [
        "bench/pad_cues.py", "--out", str(out), "--seed", "13", "--people", "4", "--bona", "5",
        "--attacks", "1", "--frames", "4", "--write-card", *options,
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        pad_cues.main()
    report: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return report


def _written_rule(card_path: Path) -> PadTrackRule:
    rule = read_pad_card(card_path).track_rule
    assert rule is not None
    return rule


def test_the_written_rule_carries_the_gates_per_track_scores_of_the_held_out_attack_clips(
    recognizer: Recognizer,
    pad_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(SHARED_DATA_DIR))
    models = StorageSettings().home / "models"
    shutil.copytree(pad_model_dir, models)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    photos = (
        tmp_path / "orl_others"
    )  # ten other ORL people's photos set the thresholds (100 one-frame tracks)
    photos.mkdir()
    for number in range(10, 20):
        (photos / f"s{number}").symlink_to(orl() / f"s{number}", target_is_directory=True)
    out = tmp_path / "sim"

    fit = ("--calibrate-stills", str(photos), "--features")
    report = _run_bench(out, capsys, *fit, "passive,frame_edges")

    rule = _written_rule(card_path)
    (evidence,) = rule.attack_evidence
    assert evidence.rule_sha256 == rule.rule_sha256 and evidence.is_per_track
    assert evidence.colour == "colour"  # as the gate records each of its tracks, below
    clips = {s: sorted((out / "held_out" / "attack" / s).glob("*.avi")) for s in ATTACK_SPECIES}
    assert evidence.paths_sha256 == names_sha256(f"{s}/{p.name}" for s, ps in clips.items() for p in ps)
    detector = build_pad_detector(
        RecognitionSettings(model_dir=models, bundle_dirs=[], allow_model_download=False),
        cache_dir=tmp_path / "cache",
    )
    assert detector.track_rule == rule
    gallery = pad_cues._gallery(recognizer, out / "gallery")
    for entry in evidence.species:  # the gate decides each held-out attack clip by the rule, per track
        gate = video_track_scores(
            clips[entry.species], recognizer, detector, gallery, pad_settings=PadSettings(policy="monitor")
        )
        scores = sorted(score.attack_score for score in gate.scores.values())
        assert not any(score.is_grayscale for score in gate.scores.values())  # grey faces, colour scenes
        assert entry.scored_count == len(scores) > 0
        assert entry.detection_failures == len(clips[entry.species]) - len(scores)
        assert entry.scores == pytest.approx(scores, abs=ROUNDING)
    assert {e.species for e in evidence.species} == set(ATTACK_SPECIES)
    summary = report["rule_attack_evidence_held_out"]
    assert summary["dataset"] == evidence.dataset and summary["json_chars"] == len(evidence.model_dump_json())

    _run_bench(out, capsys, *fit, "passive")  # a refit (the rows kept): other coefficients, its own scores

    refit = _written_rule(card_path)
    assert refit.rule_sha256 != rule.rule_sha256
    assert [e.rule_sha256 for e in refit.attack_evidence] == [refit.rule_sha256]

    grey = _run_bench(tmp_path / "grey", capsys, "--grey", "--card-rule")  # the same clips, wholly grey

    scored = _written_rule(card_path)
    added = {"attack_evidence", "grey_calibration"}  # the card's rule, its coefficients and colour thresholds
    assert scored.model_dump(exclude=added) == refit.model_dump(exclude=added)
    assert scored.rule_sha256 == refit.rule_sha256 and refit.grey_calibration is None
    grey_bona = json.loads((tmp_path / "grey" / "rows.json").read_text())["rows"]["fit"]["bona_fide"]
    if len(grey_bona) * min(p.bpcer for p in refit.calibration.points) >= 1:  # a grey point at each target
        assert scored.grey_calibration is not None
        grey_points = calibrate_pad([refit.score(row) for row in grey_bona], dataset="-").points
        assert scored.grey_calibration.points == grey_points
        assert grey["rule_grey_thresholds"] == {str(p.bpcer): p.attack_threshold for p in grey_points}
    else:  # a smoke run's few tracks (10 here): grey tracks keep the colour thresholds, as before
        assert scored.grey_calibration is None and grey["rule_grey_thresholds"] is None
    assert grey["colour"] == "grey" and grey["rule"]["from"] == "card"
    colour_evidence, grey_evidence = scored.attack_evidence  # the colour tracks' kept beside the grey ones'
    assert colour_evidence == refit.attack_evidence[0] and grey_evidence.colour == "grey"
    assert grey_evidence.rule_sha256 == refit.rule_sha256
    clips = {s: sorted((tmp_path / "grey" / "held_out" / "attack" / s).glob("*.avi")) for s in ATTACK_SPECIES}
    detector = build_pad_detector(
        RecognitionSettings(model_dir=models, bundle_dirs=[], allow_model_download=False),
        cache_dir=tmp_path / "cache",
    )
    for entry in grey_evidence.species:  # the gate decides each grey attack clip by the rule, per track
        gate = video_track_scores(
            clips[entry.species], recognizer, detector, gallery, pad_settings=PadSettings(policy="monitor")
        )
        assert gate.scores and all(score.is_grayscale for score in gate.scores.values())
        assert entry.scores == pytest.approx(
            sorted(score.attack_score for score in gate.scores.values()), abs=ROUNDING
        )


def test_the_evidence_takes_the_one_colour_the_gate_recorded_for_its_tracks() -> None:
    """Rows carry their event's colour (`is_grey`); rows of both colours, or kept from before rows had it,
    are refused rather than guessed."""
    grey, colour = {pad_cues.IS_GREY: 1.0}, {pad_cues.IS_GREY: 0.0}
    assert pad_cues.tracks_colour([grey, grey]) == "grey" and pad_cues.tracks_colour([colour]) == "colour"
    with pytest.raises(SystemExit, match="both colours"):
        pad_cues.tracks_colour([grey, colour])
    with pytest.raises(SystemExit, match="remove it to measure again"):
        pad_cues.tracks_colour([colour, {"passive": 0.5}])


def _frames(path: Path) -> list[np.ndarray]:
    return [f for f in OpencvFrameSource(str(path)).frames() if isinstance(f, np.ndarray)]


def test_grey_clips_are_the_seeds_clips_turned_grey_and_the_gate_records_every_track_grey(
    recognizer: Recognizer, pad_detector: PresentationAttackDetector, tmp_path: Path
) -> None:
    """`--grey` (a night/IR door camera): the same seed renders the same clips, every frame of bona fide and
    attack clips alike turned grey, and the gate records each such track as grey (the colour ones not)."""
    made = {}
    for name, is_grey in (("colour", False), ("grey", True)):
        made[name] = tmp_path / name
        pad_cues.make_data(
            made[name], recognizer, orl=orl(), seed=13, bona=1, attacks=1, frames=3, people_max=2,
            is_grey=is_grey,
        )  # fmt: skip
    clips = sorted(p.relative_to(made["grey"]) for p in made["grey"].rglob("*.avi"))
    assert clips == sorted(p.relative_to(made["colour"]) for p in made["colour"].rglob("*.avi"))
    assert len(clips) == 2 * (1 + len(ATTACK_SPECIES))
    for clip in clips:  # the same frames, but grey (both decoded from MJPEG: a few levels of codec error)
        grey, colour = _frames(made["grey"] / clip), _frames(made["colour"] / clip)
        assert len(grey) == len(colour) == 3
        for grey_one, colour_one in zip(grey, colour, strict=True):
            spread = grey_one.max(axis=2).astype(int) - grey_one.min(axis=2)
            assert spread.max() <= 4 < (colour_one.max(axis=2).astype(int) - colour_one.min(axis=2)).max()
            assert np.abs(grey_one.astype(int) - grey_frame(colour_one)).mean() < 2.0
    gallery = pad_cues._gallery(recognizer, made["grey"] / "gallery")
    for name, recorded in (("colour", 0.0), ("grey", 1.0)):
        for split in ("fit", "held_out"):
            paths = sorted((made[name] / split).rglob("*.avi"))
            rows, _ = pad_cues.track_rows(paths, recognizer, pad_detector, gallery)
            assert rows and {row[pad_cues.IS_GREY] for row in rows} == {recorded}


def test_the_rule_at_its_points_counts_refused_bona_fide_and_passed_attack_tracks() -> None:
    """BPCER of the bona fide tracks and APCER of each species' at each of the rule's thresholds (0.5)."""
    rule = hand_set_rule(("passive", "frame_edges"))  # score 0.5 exactly at the centre (0.5, 0.3)
    low: pad_cues.Row = {"passive": 0.5, "frame_edges": 0.0}
    high: pad_cues.Row = {"passive": 0.5, "frame_edges": 0.9}
    rows: dict[str, list[pad_cues.Row]] = {
        "bona_fide": [low, low, low, high],
        "print": [high, low],
        "screen_replay": [],
    }
    report = pad_cues.rule_at_points(rule, rows)
    assert report["bona_fide_tracks"] == 4 and report["print_tracks"] == 2
    assert report["bpcer_at_rule_0.01"] == 0.25 and report["apcer_print_at_rule_0.01"] == 0.5
    assert np.isnan(report["apcer_screen_replay_at_rule_0.01"])


def _card(rule: PadTrackRule) -> PadCard:
    """A card of one pinned net (its ONNX file absent: only the card is read) holding `rule`."""
    pinned = MINIFASNET_SOURCES[0]
    net = PadNet(
        variant=pinned.variant, file="v2.onnx", sha256="1" * 64, scale=pinned.scale,
        source_sha256=pinned.sha256,
    )  # fmt: skip
    return PadCard(model_id="minifasnet-test", nets=(net,), track_rule=rule)


def test_a_card_rule_run_writes_into_the_cards_rule_only_never_another(tmp_path: Path) -> None:
    """--card-rule --write-card adds thresholds and evidence to the rule the card holds: written when the
    card still holds that rule (same coefficients), refused with nothing written when the card's rule was
    refit since the run read it; a fitting run writes its own rule."""
    card_path = tmp_path / PAD_CARD_FILE
    rule = hand_set_rule(("passive", "frame_edges"))
    write_pad_card(_card(rule), card_path)
    grey = rule.model_copy(update={"grey_calibration": rule.calibration})

    pad_cues.write_card_rule(card_path, grey, is_card_rule=True)

    assert _written_rule(card_path) == grey
    refit = rule.model_copy(update={"weights": (1.0, 3.0)})
    write_pad_card(_card(refit), card_path)
    with pytest.raises(SystemExit, match="nothing written"):
        pad_cues.write_card_rule(card_path, grey, is_card_rule=True)
    assert _written_rule(card_path) == refit
    pad_cues.write_card_rule(card_path, rule, is_card_rule=False)
    assert _written_rule(card_path) == rule


def test_grey_card_rule_write_card_writes_the_cards_rule_with_thresholds_from_the_grey_fit_bona_fide_tracks(
    tmp_path: Path,
    recognizer: Recognizer,
    pad_model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--grey --card-rule --write-card` over kept rows (OUT/rows.json as a grey run records them; real grey
    clips for the names and cue timings): the card's rule is written back with the same coefficients and
    colour thresholds, its grey evidence, and a grey calibration whose thresholds are its own score on the
    grey fit split's bona fide tracks, reported with the rates at them."""
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(SHARED_DATA_DIR))
    models = StorageSettings().home / "models"
    shutil.copytree(pad_model_dir, models)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    rule = hand_set_rule(("passive", "frame_edges"))
    write_pad_card(read_pad_card(card_path).model_copy(update={"track_rule": rule}), card_path)
    out = tmp_path / "grey"
    pad_cues.make_data(
        out, recognizer, orl=orl(), seed=13, bona=1, attacks=1, frames=3, people_max=2, is_grey=True
    )
    rng = np.random.default_rng(3)

    def rows(count: int, edges: float) -> list[pad_cues.Row]:
        return [
            {"passive": float(p), "frame_edges": edges, pad_cues.IS_GREY: 1.0}
            for p in rng.uniform(0.8, 1.0, count)
        ]

    kept = {  # held out: one attack track a species, as many as the clips made above
        split: {"bona_fide": rows(100, 0.25), **{s: rows(count, 0.9) for s in ATTACK_SPECIES}}
        for split, count in (("fit", 5), ("held_out", 1))
    }
    never = {split: {cls: 0 for cls in kept[split]} for split in kept}
    (out / "rows.json").write_text(json.dumps({"rows": kept, "never_scored": never}))
    argv = ["bench/pad_cues.py", "--out", str(out), "--grey", "--card-rule", "--write-card"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        pad_cues.main()

    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    written = _written_rule(card_path)
    assert written.rule_sha256 == rule.rule_sha256 and written.calibration == rule.calibration
    assert [e.colour for e in written.attack_evidence] == ["grey"]
    grey = written.grey_calibration
    assert grey is not None and grey.bona_fide_count == 100
    bona = [rule.score(row) for row in kept["fit"]["bona_fide"]]
    assert grey.points == calibrate_pad(bona, dataset="-").points
    assert report["rule_grey_thresholds"] == {str(p.bpcer): p.attack_threshold for p in grey.points}
    held = [rule.score(row) for row in kept["held_out"]["bona_fide"]]
    at_grey = report["rule_at_grey_points"]["held_out"]
    for point in grey.points:
        refused = sum(score > point.attack_threshold for score in held) / len(held)
        assert at_grey[f"bpcer_at_rule_{point.bpcer:g}"] == round(refused, 4)
        assert at_grey[f"apcer_print_at_rule_{point.bpcer:g}"] == 0.0
