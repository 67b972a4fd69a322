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

import pytest

from api.cli.pad_eval import video_track_scores
from bench import pad_cues
from gate import PadSettings
from recognition import (
    ATTACK_SPECIES,
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    PadTrackRule,
    RecognitionSettings,
    Recognizer,
    build_pad_detector,
    names_sha256,
    read_pad_card,
)
from storage import StorageSettings
from tests.data import SHARED_DATA_DIR, orl

pytestmark = pytest.mark.model

ROUNDING = 2e-4
"""The bench fits on the cues as events record them (4 decimals); the gate scores the unrounded values."""


def _run_bench(
    out: Path, calibration_photos: Path, features: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """bench/pad_cues.py --write-card as BENCHMARKS runs it, small: its last stdout line."""
    argv = [
        "bench/pad_cues.py", "--out", str(out), "--seed", "13", "--people", "4", "--bona", "5",
        "--attacks", "2", "--frames", "6", "--features", features, "--write-card",
        "--calibrate-stills", str(calibration_photos),
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

    report = _run_bench(out, photos, "passive,frame_edges", capsys)

    rule = _written_rule(card_path)
    evidence = rule.calibration.attack_evidence
    assert evidence is not None and evidence.rule_sha256 == rule.rule_sha256 and evidence.is_per_track
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

    _run_bench(out, photos, "passive", capsys)  # a refit (the rows kept): other coefficients, its own scores

    refit = _written_rule(card_path)
    assert refit.rule_sha256 != rule.rule_sha256
    assert refit.calibration.attack_evidence is not None
    assert refit.calibration.attack_evidence.rule_sha256 == refit.rule_sha256


def test_the_evidence_takes_the_one_colour_the_gate_recorded_for_its_tracks() -> None:
    """Rows carry their event's colour (`is_grey`); rows of both colours, or kept from before rows had it,
    are refused rather than guessed."""
    grey, colour = {pad_cues.IS_GREY: 1.0}, {pad_cues.IS_GREY: 0.0}
    assert pad_cues.tracks_colour([grey, grey]) == "grey" and pad_cues.tracks_colour([colour]) == "colour"
    with pytest.raises(SystemExit, match="both colours"):
        pad_cues.tracks_colour([grey, colour])
    with pytest.raises(SystemExit, match="remove it to measure again"):
        pad_cues.tracks_colour([colour, {"passive": 0.5}])
