"""`facegate pad calibrate-door` end to end: the gate in monitor, the command, its block in a gates file."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from api.cli import app
from gate import CameraSelection, PadSettings, calibrate_door, load_gates_file, redacted_source
from recognition import (
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    PASSIVE_FEATURE,
    BpcerPoint,
    PadAttackEvidence,
    PadCalibration,
    PadTrackRule,
    PresentationAttackDetector,
    RecognitionSettings,
    attack_evidence,
    build_pad_detector,
    read_pad_card,
    with_track_attack_evidence,
    write_pad_card,
)
from storage import (
    AuditEventCreate,
    Cipher,
    Engine,
    StorageSettings,
    append_event,
    generate_key,
    load_keyring,
    query_events,
    session_scope,
)
from tests.data import encode_jpeg
from tests.gate.pad_support import (
    NOON,
    door_clips,
    hand_set_rule,
    pad_gate_settings,
    replayed,
    run_pad_gate,
    sample,
)
from tests.storage.audit_helpers import sql

pytestmark = pytest.mark.model
runner = CliRunner()
WINDOW = ("--since", "2026-11-23T11:00:00", "--until", "2026-11-23T13:00:00")


@pytest.fixture
def keyring(monkeypatch: pytest.MonkeyPatch) -> Cipher:
    """The master key from the environment, as `facegate audit verify` and every command load it."""
    monkeypatch.setenv("FACEGATE_MASTER_KEY", generate_key())
    return load_keyring(StorageSettings())


def _gates(path: Path, pad: dict[str, Any]) -> Path:
    camera = {"name": "front-cam", "source": "replay:pad", "door": "front", "settings": {"pad": pad}}
    path.write_text(yaml.safe_dump({"cameras": [camera]}))
    return path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_calibrate_door_reports_each_colour_and_prints_the_block_the_gate_then_accepts(
    engine,
    database_url: str,
    keyring,
    recognizer,
    pad_model_dir: Path,
    pad_detector: PresentationAttackDetector,
    enroll_person,
    recorded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enroll_person("T1", encode_jpeg(sample("image_T1.jpg")))
    settings = pad_gate_settings("monitor", bpcer_target=0.5)
    replayed(engine, keyring, recorded["passive"])  # the gate's 10 colour tracks, under this log's chain
    run_pad_gate(
        engine, keyring, recognizer, pad_detector, door_clips(2, seed=21, is_grey=True), settings=settings
    )
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    shutil.copytree(pad_model_dir, StorageSettings().home / "models", dirs_exist_ok=True)
    gates = _gates(tmp_path / "gates.yaml", {"policy": "monitor", "bpcer_target": 0.5})

    result = runner.invoke(
        app, ["pad", "calibrate-door", "--door", "front", "--config", str(gates), *WINDOW, "--json"]
    )

    assert result.exit_code == 0, result.output
    *text, last = result.stdout.strip().splitlines()
    report = json.loads(last)
    expected = calibrate_door(
        engine,
        keyring=keyring,
        door="front",
        settings=PadSettings(bpcer_target=0.5),
        detector=pad_detector,
        bpcer_target=0.5,
        since=NOON.replace(hour=11),
        until=NOON.replace(hour=13),
    )
    assert report["calibration"] == expected.calibration.model_dump(mode="json")
    colour, grey = report["colours"]
    assert (colour["events"], grey["events"], grey["threshold"]) == (10, 2, None)
    assert colour["threshold"] == expected.calibration.colour.attack_threshold  # type: ignore[union-attr]
    assert 1 <= colour["refused_at_threshold"] <= 5 and colour["card_basis"] == "uncalibrated"
    output = "\n".join(text)
    assert "grey: 2 events, fewer than the 10 needed: not calibrated" in output
    # An uncalibrated card holds no attack scores: said plainly, nothing guessed, the block printed.
    assert colour["attack_evidence"] is None and report["weaker_pad"] == [] and report["block_printed"]
    assert "attacks: unknown: the card is uncalibrated (the authors' 0.5), with no attack scores" in output
    review = colour["review"]  # ids only (E5): the tracks' footage is found by them, nobody is named
    assert [r["event_id"] for r in review] == [e.event_id for e in expected.colours[0].review]
    assert len(review) == colour["refused_at_threshold"] + 1 and grey["review"] == []
    assert set(review[0]) == {"event_id", "occurred_at", "camera", "track_id", "person_id", "pad_score"}
    assert f"the {len(review)} events at or above it, most attack-like first" in output
    (camera,) = colour["cameras"]
    assert camera == {
        "camera": "replay:pad",
        "events": 10,
        "refused_at_threshold": colour["refused_at_threshold"],
        "refused_at_card_threshold": colour["refused_at_card_threshold"],
        "own_threshold": colour["threshold"],
    }
    assert (
        f"camera replay:pad: 10 events (100%); this threshold refuses {colour['refused_at_threshold']} ("
        in output
    )
    assert "camera replay:pad: 2 events (100%); the card's" in output  # grey: not calibrated
    first = review[0]
    assert (
        f"event {first['event_id']} 2026-11-23 12:00:00 camera replay:pad track {first['track_id']}" in output
    )
    assert f"threshold {colour['threshold']:.6f} refuses {colour['refused_at_threshold']} of them" in output

    block = yaml.safe_load("\n".join(text[text.index(next(t for t in text if t.startswith("pad:"))) :]))
    pad = {**block["pad"], "policy": "enforce"}
    (camera,) = load_gates_file(_gates(gates, pad)).cameras
    assert camera.settings.pad.door_calibration == expected.calibration
    checked = runner.invoke(app, ["gate", "--config", str(gates), "--check-config"])
    assert checked.exit_code == 0 and "configuration valid" in checked.output, checked.output

    too_strict = runner.invoke(app, ["pad", "calibrate-door", "--door", "front", "--bpcer-target", "0.4"])
    assert too_strict.exit_code == 1
    assert "too few monitor events" in " ".join(too_strict.output.split())
    other_door = runner.invoke(app, ["pad", "calibrate-door", "--door", "back", "--config", str(gates)])
    assert other_door.exit_code == 1 and "no camera of door 'back'" in other_door.output
    head = report["audit_chain"]["last_sequence"]
    assert report["audit_chain"] == {
        "checkpoint": None,
        "first_sequence": 1,
        "last_sequence": head,
        "events_verified": head,
    }
    assert f"audit chain: verified whole, events 1 to {head} ({head} events)" in output

    checkpoint = tmp_path / "checkpoint.json"
    assert runner.invoke(app, ["audit", "checkpoint", "export", "--out", str(checkpoint)]).exit_code == 0
    _append_copies(engine, keyring, first=1, last=head)  # the same tracks again, after the checkpoint
    sql(engine, "UPDATE audit_event SET pad_score = 0.0 WHERE sequence = 1")
    tampered = runner.invoke(app, ["pad", "calibrate-door", "--door", "front", "--config", str(gates)])
    refusal = " ".join(tampered.output.split())
    assert tampered.exit_code == 1
    assert "audit chain does not verify" in refusal and "sequence 1 (edited)" in refusal, refusal

    since = ["--config", str(gates), "--since-checkpoint", str(checkpoint), "--json"]
    resumed = runner.invoke(app, ["pad", "calibrate-door", "--door", "front", *since])
    assert resumed.exit_code == 0, resumed.output
    *text, last = resumed.stdout.strip().splitlines()
    after = json.loads(last)
    assert after["calibration"] == report["calibration"]  # the same scores, read after the checkpoint
    assert after["colours"][0]["events"] == 10
    signed = json.loads(checkpoint.read_text())
    signed_at = datetime.fromisoformat(signed["created_at"])
    assert after["audit_chain"] == {
        "checkpoint": {
            "sequence": head,
            "created_at": signed_at.isoformat(),
            "public_key": signed["public_key_hex"],
            "acknowledged_breaks": [],
        },
        "first_sequence": head + 1,
        "last_sequence": 2 * head,
        "events_verified": head,
    }
    window = " ".join(" ".join(text).split())
    assert (
        f"audit chain: verified from the checkpoint of event {head} signed "
        f"{signed_at:%Y-%m-%d %H:%M:%S} UTC by {signed['public_key_hex'][:16]}: "
        f"events {head + 1} to {2 * head} ({head} events); the {head} events up to the checkpoint were not "
        "verified and not used"
    ) in window
    sql(engine, "DELETE FROM audit_event WHERE sequence = :s", s=head + 1)
    broken = runner.invoke(app, ["pad", "calibrate-door", "--door", "front", *since])
    refusal = " ".join(broken.output.split())
    assert broken.exit_code == 1
    assert (
        f"after checkpointed event {head} does not verify" in refusal
        and f"sequence {head + 1} (deleted)" in refusal
    )

    # Investigated, both breaks are acknowledged: a checkpoint re-anchored at the head vouches again.
    reanchored = tmp_path / "reanchored.json"
    acknowledge = ["--acknowledge-break", "1", "--acknowledge-break", str(head + 1), "--note", "INC-42"]
    exported = runner.invoke(app, ["audit", "checkpoint", "export", "--out", str(reanchored), *acknowledge])
    assert exported.exit_code == 0, exported.output
    # The intact copies once more, after it: event 1's copy was deleted, so 9 colour tracks (target 0.6).
    _append_copies(engine, keyring, first=head + 2, last=2 * head)
    since = ["--config", str(gates), "--since-checkpoint", str(reanchored), "--json", "--bpcer-target", "0.6"]
    again = runner.invoke(app, ["pad", "calibrate-door", "--door", "front", *since])
    assert again.exit_code == 0, again.output
    *text, last = again.stdout.strip().splitlines()
    anew = json.loads(last)
    assert anew["colours"][0]["events"] == 9 and anew["calibration"]["colour"] is not None
    assert anew["audit_chain"]["checkpoint"]["acknowledged_breaks"] == [
        {"sequence": 1, "reason": "edited"},
        {"sequence": head + 1, "reason": "deleted"},
    ]
    assert (anew["audit_chain"]["first_sequence"], anew["audit_chain"]["events_verified"]) == (
        2 * head + 2,
        head - 1,
    )
    window = " ".join(" ".join(text).split())
    assert (
        f"not verified and not used (it was signed acknowledging the audit chain's breaks at 1 (edited), "
        f"{head + 1} (deleted))"
    ) in window
    assert (
        runner.invoke(app, ["pad", "calibrate-door", "--door", "front", "--config", str(gates)]).exit_code
        == 1
    )


def _append_copies(engine: Engine, keyring: Cipher, *, first: int, last: int) -> None:
    """Events `first`..`last` appended again, as their writers recorded them (new links, no writer ids)."""
    with session_scope(engine) as session:
        events, _ = query_events(session, limit=last)
        for event in sorted(events, key=lambda e: e.sequence):
            if first <= event.sequence <= last:
                copy = event.model_dump(exclude={"id", "sequence", "link_hash", "event_uid"})
                append_event(session, keyring, AuditEventCreate(**copy))


def _given_up_print(
    door_at: float, *, dataset: str, rule_sha256: str | None = None
) -> tuple[float, PadAttackEvidence]:
    """A card threshold half the door's, and attack scores with 31 of 300 prints between the two (10.33
    points given up: more than 10) and every screen replay above both (4 not scored); a rule's, of colour
    tracks."""
    card_at, between, above = door_at / 2, door_at * 3 / 4, (door_at + 1.0) / 2
    evidence = attack_evidence(
        {"print": [between] * 31 + [above] * 269, "screen_replay": [above] * 300},
        {"screen_replay": 4},
        dataset=dataset,
        paths_sha256="a" * 64,
        rule_sha256=rule_sha256,
        colour=None if rule_sha256 is None else "colour",
    )
    return card_at, evidence


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_door_threshold_that_gives_up_pad_warns_and_prints_its_block_only_when_accepted(
    engine,
    database_url: str,
    keyring,
    pad_model_dir: Path,
    pad_detector: PresentationAttackDetector,
    enroll_person,
    recorded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The card's colour calibration carries attack scores, 31 of 300 prints between the card's threshold and
    the door's: the report gives each species' APCER at both, warns, and refuses to print the block (exit 1,
    saying what it gives up) unless --accept-weaker-pad; grey says plainly that it has no evidence."""
    enroll_person("T1", encode_jpeg(sample("image_T1.jpg")))
    replayed(engine, keyring, recorded["passive"])  # the gate's 10 colour tracks, under this log's chain
    door = calibrate_door(
        engine, keyring=keyring, door="front", settings=PadSettings(bpcer_target=0.5), detector=pad_detector,
        bpcer_target=0.5,
    ).calibration.colour  # fmt: skip
    assert door is not None and 0.0 < door.attack_threshold < 1.0
    door_at = door.attack_threshold
    card_at, evidence = _given_up_print(door_at, dataset="sim")
    models = StorageSettings().home / "models"
    shutil.copytree(pad_model_dir, models, dirs_exist_ok=True)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    point = BpcerPoint(bpcer=0.01, attack_threshold=card_at)
    calibration = PadCalibration(
        dataset="LFW", bona_fide_count=100, points=(point,), attack_evidence=evidence
    )
    write_pad_card(read_pad_card(card_path).model_copy(update={"calibration": calibration}), card_path)
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    gates = _gates(tmp_path / "gates.yaml", {"policy": "monitor", "bpcer_target": 0.5})
    options = ["pad", "calibrate-door", "--door", "front", "--config", str(gates), *WINDOW, "--json"]

    refused = runner.invoke(app, options)

    assert refused.exit_code == 1, refused.output
    *text, last = refused.stdout.strip().splitlines()
    report = json.loads(last)
    summary = (
        f"colour threshold {door_at:.6f} (the card's {card_at:.6f}) lets through print 10.33% against 0.00% "
        "of 300 of the card's attacks (sim)"
    )
    assert (report["weaker_pad"], report["weaker_pad_summary"], report["block_printed"]) == (
        ["colour"],
        summary,
        False,
    )
    colour, grey = report["colours"]
    assert colour["attack_evidence"] == {
        "dataset": "sim",
        "per": "still",
        "is_weaker": True,
        "species": [
            {
                "species": "print",
                "attacks": 300,
                "apcer_at_threshold": 31 / 300,
                "apcer_at_card_threshold": 0.0,
            },
            {
                "species": "screen_replay",
                "attacks": 300,
                "apcer_at_threshold": 0.0,
                "apcer_at_card_threshold": 0.0,
            },
        ],
    }
    assert colour["attack_evidence_missing"] is None and grey["attack_evidence"] is None
    assert "no grey calibration" in grey["attack_evidence_missing"]
    output = " ".join(refused.output.split())
    shares = (
        "print 10.33% at this threshold, 0.00% at the card's (of 300), screen_replay 0.00% at this "
        "threshold, 0.00% at the card's (of 300)"
    )
    assert f"attacks let through (APCER), the card's attack evidence (sim): {shares}" in output
    assert "WARNING: this threshold gives up PAD: more than 10 points more of print let through" in output
    assert "grey: 0 events" in output and "attacks: unknown: the card has no grey calibration" in output
    assert f"error: door front: this calibration gives up PAD: {summary}; no `pad:` block printed" in output
    assert "--accept-weaker-pad" in output and not any(line.startswith("pad:") for line in text)

    accepted = runner.invoke(app, [*options, "--accept-weaker-pad"])

    assert accepted.exit_code == 0, accepted.output
    *text, last = accepted.stdout.strip().splitlines()
    assert json.loads(last) == {**report, "block_printed": True}
    start, end = text.index("pad:"), next(i for i, t in enumerate(text) if t.startswith("(printed with"))
    block = yaml.safe_load("\n".join(text[start:end]))
    assert block["pad"]["door_calibration"]["colour"]["attack_threshold"] == door_at
    assert f"(printed with --accept-weaker-pad: it gives up PAD: {summary})" in " ".join(
        accepted.stdout.split()
    )
    # One camera's calibration (here the door's only camera) keeps the rule: the same refusal, naming it.
    camera = runner.invoke(app, [*options, "--camera", "front-cam"])
    assert camera.exit_code == 1 and json.loads(camera.stdout.strip().splitlines()[-1]) == {
        **report,
        "camera": {"name": "front-cam", "source": "replay:pad"},
    }
    assert (
        f"error: door front, camera front-cam: this calibration gives up PAD: {summary}; no `pad:` block"
        in " ".join(camera.output.split())
    )
    accepted = runner.invoke(app, [*options, "--camera", "front-cam", "--accept-weaker-pad"])
    assert (
        accepted.exit_code == 0
        and "Paste under `settings:` of camera front-cam of door front" in " ".join(accepted.stdout.split())
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_rule_decided_door_says_attacks_unknown_for_an_old_rule_and_reads_a_measured_rule_per_track(
    engine,
    database_url: str,
    keyring,
    pad_model_dir: Path,
    enroll_person,
    recorded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The card's track rule decides. A rule as cards held it before rules carried attack tracks (its JSON
    as written then) loads unchanged and the report says `attacks: unknown`, printing the block; the same
    rule with its colour attack tracks (31 of 300 prints between its threshold and the door's) is read per
    track for colour tracks, warns and refuses the block naming the rule's attack tracks."""
    enroll_person("T1", encode_jpeg(sample("image_T1.jpg")))
    models = StorageSettings().home / "models"
    shutil.copytree(pad_model_dir, models, dirs_exist_ok=True)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    old_rule = {  # a rule's JSON as bench/pad_cues.py --write-card wrote it before (no attack evidence)
        "features": ["passive", "frame_edges"],
        "centre": [0.5, 0.3],
        "scale": [0.25, 0.25],
        "weights": [1.0, 4.0],
        "intercept": 0.0,
        "calibration": {
            "dataset": "120 bona fide tracks of bench/pad_cues.py --seed 13",
            "bona_fide_count": 120,
            "points": [{"bpcer": 0.01, "attack_threshold": 0.5}],
            "source": None,
        },
        "fitted_on": "bench/pad_cues.py --seed 13",
    }
    card_json = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card_json, "track_rule": old_rule}))
    rule = read_pad_card(card_path).track_rule
    assert rule is not None and rule.attack_evidence == ()
    assert rule.rule_sha256 == hand_set_rule((PASSIVE_FEATURE, "frame_edges")).rule_sha256  # as `recorded`'s
    replayed(engine, keyring, recorded["rule"])  # 10 colour tracks the gate decided by these coefficients
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    gates = _gates(tmp_path / "gates.yaml", {"policy": "monitor", "bpcer_target": 0.5})
    options = ["pad", "calibrate-door", "--door", "front", "--config", str(gates), *WINDOW, "--json"]

    unknown = runner.invoke(app, options)

    assert unknown.exit_code == 0, unknown.output
    report = json.loads(unknown.stdout.strip().splitlines()[-1])
    assert report["calibration"]["score"] == "track_rule" and report["block_printed"]
    colour = report["colours"][0]
    assert colour["attack_evidence"] is None
    assert "attacks: unknown: the door decides by the card's track rule, which records no attack " in (
        " ".join(unknown.output.split())
    )
    door_at = colour["threshold"]
    card_at, evidence = _given_up_print(door_at, dataset="held-out tracks", rule_sha256=rule.rule_sha256)
    point = BpcerPoint(bpcer=0.01, attack_threshold=card_at)
    calibration = rule.calibration.model_copy(update={"points": (point,)})
    measured = rule.model_copy(update={"calibration": calibration, "attack_evidence": (evidence,)})
    write_pad_card(read_pad_card(card_path).model_copy(update={"track_rule": measured}), card_path)

    refused = runner.invoke(app, options)

    assert refused.exit_code == 1, refused.output
    report = json.loads(refused.stdout.strip().splitlines()[-1])
    summary = (
        f"colour threshold {door_at:.6f} (the card's {card_at:.6f}) lets through print 10.33% against 0.00% "
        "of 300 of the track rule's attack tracks (held-out tracks)"
    )
    assert (report["weaker_pad"], report["weaker_pad_summary"]) == (["colour"], summary)
    colour, grey = report["colours"]
    assert colour["attack_evidence"]["per"] == "track" and grey["attack_evidence"] is None
    output = " ".join(refused.output.split())
    assert (
        "attacks let through (APCER), per track, the track rule's attack evidence (held-out tracks): print "
        "10.33% at this threshold, 0.00% at the card's (of 300)"
    ) in output
    assert f"error: door front: this calibration gives up PAD: {summary}; no `pad:` block printed" in output


def test_a_rule_decided_grey_door_says_attacks_unknown_for_the_rules_colour_tracks_of_an_old_card(
    engine,
    database_url: str,
    keyring,
    pad_model_dir: Path,
    enroll_person,
    recorded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A card whose rule carries attack tracks as bench/pad_cues.py --write-card wrote them before they
    recorded their colour (its JSON then) loads, read as colour tracks (what the bench's clips are): the
    door's colour events read them per track; its grey (night/IR) events, decided by the same rule, say
    `attacks: unknown` and why, in the text and in --json. Once grey attack tracks are recorded beside them,
    the grey events read those and the colour ones still their own."""
    enroll_person("T1", encode_jpeg(sample("image_T1.jpg")))
    models = StorageSettings().home / "models"
    shutil.copytree(pad_model_dir, models, dirs_exist_ok=True)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    coefficients = {
        "features": ["passive", "frame_edges"], "centre": [0.5, 0.3], "scale": [0.25, 0.25],
        "weights": [1.0, 4.0], "intercept": 0.0,
    }  # fmt: skip
    rule_sha256 = PadTrackRule.model_validate(
        {
            **coefficients,
            "calibration": {"dataset": "x", "bona_fide_count": 1, "points": []},
            "fitted_on": "x",
        }
    ).rule_sha256
    scores = {"species": "print", "scored_count": 3, "detection_failures": 0, "scores": [0.0, 0.2, 1.0]}
    then = {  # the rule's evidence as bench/pad_cues.py --write-card wrote it before (no colour)
        "dataset": "60 simulated attack tracks of the held-out half of ORL's people",
        "paths_sha256": "a" * 64,
        "species": [scores],
        "rule_sha256": rule_sha256,
    }
    rule_calibration = {
        "dataset": "120 bona fide tracks of bench/pad_cues.py --seed 13",
        "bona_fide_count": 120,
        "points": [{"bpcer": 0.01, "attack_threshold": 0.5}],
        "attack_evidence": then,
    }
    rule = {**coefficients, "calibration": rule_calibration, "fitted_on": "bench/pad_cues.py --seed 13"}
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "track_rule": rule}))
    detector = build_pad_detector(
        RecognitionSettings(model_dir=models, bundle_dirs=[], allow_model_download=False),
        cache_dir=tmp_path / "cache",
    )
    assert detector.track_rule is not None and detector.track_rule.rule_sha256 == rule_sha256
    replayed(engine, keyring, [*recorded["rule"], *recorded["rule_grey"]])  # by this rule's coefficients
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    gates = _gates(tmp_path / "gates.yaml", {"policy": "monitor", "bpcer_target": 0.5})

    result = runner.invoke(
        app, ["pad", "calibrate-door", "--door", "front", "--config", str(gates), *WINDOW, "--json"]
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    colour, grey = report["colours"]
    assert report["calibration"]["score"] == "track_rule" and colour["threshold"] and grey["threshold"]
    assert colour["attack_evidence"]["per"] == "track" and colour["attack_evidence_missing"] is None
    assert [s["apcer_at_card_threshold"] for s in colour["attack_evidence"]["species"]] == [2 / 3]
    why = (
        "the door decides by the card's track rule, whose attack tracks are colour (60 simulated attack "
        "tracks of the held-out half of ORL's people); grey attacks score far higher than colour ones, so "
        "colour attack tracks say nothing about grey ones"
    )
    assert grey["attack_evidence"] is None and grey["attack_evidence_missing"] == why
    output = " ".join(result.output.split())
    assert "attacks let through (APCER), per track, the track rule's attack evidence (60 simulated" in output
    assert f"attacks: unknown: {why}; what it gives up in attacks is not measured" in output
    old_card = read_pad_card(card_path)  # grey attack tracks measured (`pad_cues.py --grey --card-rule`)
    assert old_card.track_rule is not None and old_card.track_rule.calibration.attack_evidence is None
    measured = with_track_attack_evidence(
        old_card.track_rule,
        {"print": [{"passive": 0.5, "frame_edges": 0.3}] * 4, "screen_replay": [{"frame_edges": 3.0}]},
        {"print": 1},
        dataset="grey held-out tracks",
        paths_sha256="c" * 64,
        colour="grey",
    )
    write_pad_card(old_card.model_copy(update={"track_rule": measured}), card_path)

    both = runner.invoke(
        app, ["pad", "calibrate-door", "--door", "front", "--config", str(gates), *WINDOW, "--json"]
    )

    assert both.exit_code == 0, both.output
    colour_then = colour
    colour, grey = json.loads(both.stdout.strip().splitlines()[-1])["colours"]
    assert colour == colour_then  # the colour tracks' evidence kept beside the grey one
    assert grey["attack_evidence"]["per"] == "track" and grey["attack_evidence_missing"] is None
    assert grey["attack_evidence"]["dataset"] == "grey held-out tracks"
    assert [(s["species"], s["apcer_at_card_threshold"]) for s in grey["attack_evidence"]["species"]] == [
        ("print", 1.0),  # score 0.5 at the centre, not above the rule's 0.5: let through
        ("screen_replay", 0.0),  # score 1.0: refused at any threshold, so no door threshold gives it up
    ]


SIDE_URL = "rtsp://user:secret@10.0.0.7/side"


def _two_cameras(path: Path, *, lobby: dict[str, Any], side: dict[str, Any]) -> Path:
    """Door front's lobby camera and a side entrance streamed with a password, each with its own journal."""
    cameras = [
        {"name": name, "source": source, "door": "front", "settings": {"pad": pad, "journal_dir": name}}
        for name, source, pad in (("lobby-cam", "replay:lobby", lobby), ("side-cam", SIDE_URL, side))
    ]
    path.write_text(yaml.safe_dump({"cameras": cameras}))
    return path


def test_calibrate_door_camera_calibrates_one_camera_from_its_own_events_for_its_settings_only(
    engine,
    database_url: str,
    keyring,
    recognizer,
    pad_model_dir: Path,
    pad_detector: PresentationAttackDetector,
    enroll_person,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--camera NAME (or its source as audited): its events alone under its own settings, the block for its
    `settings:` alone, which the gate accepts beside the other camera's; a door-wide calibration then warns
    that its block replaces that camera's own; the door as a whole refuses when its cameras' settings
    differ; too few events name the camera; an unknown camera exits 2 naming the door's cameras (never a
    stream's password) with nothing to paste; --since-checkpoint reads the camera's events after it."""
    enroll_person("T1", encode_jpeg(sample("image_T1.jpg")))
    settings = pad_gate_settings("monitor", bpcer_target=0.5)
    side_source = redacted_source(SIDE_URL)  # what the gate audits for the side camera
    run_pad_gate(engine, keyring, recognizer, pad_detector, door_clips(10, seed=30), settings=settings,
                 source="replay:lobby")  # fmt: skip
    run_pad_gate(engine, keyring, recognizer, pad_detector, door_clips(2, seed=31), settings=settings,
                 source=side_source)  # fmt: skip
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    shutil.copytree(pad_model_dir, StorageSettings().home / "models", dirs_exist_ok=True)
    monitor = {"policy": "monitor", "bpcer_target": 0.5}
    gates = _two_cameras(tmp_path / "gates.yaml", lobby=monitor, side={**monitor, "bpcer_target": 0.4})
    door = ["pad", "calibrate-door", "--door", "front", "--config", str(gates)]

    result = runner.invoke(app, [*door, "--camera", "lobby-cam", "--json"])

    assert result.exit_code == 0, result.output
    *text, last = result.stdout.strip().splitlines()
    report = json.loads(last)
    lobby = CameraSelection(name="lobby-cam", source="replay:lobby")
    expected = calibrate_door(
        engine, keyring=keyring, door="front", settings=PadSettings(bpcer_target=0.5), detector=pad_detector,
        bpcer_target=0.5, camera=lobby,
    )  # fmt: skip
    assert report["camera"] == {"name": "lobby-cam", "source": "replay:lobby"}
    assert report["calibration"] == expected.calibration.model_dump(mode="json")
    colour = report["colours"][0]
    assert colour["events"] == 10 and [c["camera"] for c in colour["cameras"]] == ["replay:lobby"]
    assert report["left_out"] == {} and {r["camera"] for r in colour["review"]} == {"replay:lobby"}
    output = " ".join(" ".join(text).split())
    assert "door front, camera lobby-cam (replay:lobby as audited, its events only): PAD weights" in output
    assert (
        "Paste under `settings:` of camera lobby-cam of door front in the gates file, and of no other"
        in output
    )
    by_source = runner.invoke(app, [*door, "--camera", "replay:lobby", "--json"])
    assert by_source.exit_code == 0 and json.loads(by_source.stdout.strip().splitlines()[-1]) == report

    block = yaml.safe_load("\n".join(text[text.index("pad:") :]))
    pasted = _two_cameras(gates, lobby={**block["pad"], "policy": "enforce"}, side=monitor)
    lobby_cam, side_cam = load_gates_file(pasted).cameras
    assert lobby_cam.settings.pad.door_calibration == expected.calibration
    assert side_cam.settings.pad.door_calibration is None
    checked = runner.invoke(app, ["gate", "--config", str(pasted), "--check-config"])
    assert checked.exit_code == 0 and "configuration valid: 2 camera(s)" in checked.output, checked.output
    _two_cameras(gates, lobby={**block["pad"], "policy": "monitor"}, side=monitor)
    replacing = runner.invoke(app, door)
    assert replacing.exit_code == 0, replacing.output
    assert (
        "note: cameras lobby-cam, side-cam of door front hold different door calibrations (one calibrated "
        "apart with --camera?); this block replaces each camera's it is pasted under"
        in " ".join(replacing.output.split())
    )
    assert "note: cameras" not in result.output

    _two_cameras(gates, lobby=monitor, side={**monitor, "bpcer_target": 0.4})
    whole = runner.invoke(app, door)
    refusal = " ".join(whole.output.split())
    assert whole.exit_code == 1 and "the cameras of door 'front' have different pad settings" in refusal
    assert (
        "--camera NAME (cameras: lobby-cam (replay:lobby), side-cam (rtsp://user:***@10.0.0.7/side))"
        in refusal
    )
    too_few = runner.invoke(app, [*door, "--camera", "side-cam"])
    refusal = " ".join(too_few.output.split())
    assert too_few.exit_code == 1 and "door front, camera side-cam: too few monitor events" in refusal
    assert "at BPCER 0.4 (need 13 of one colour" in refusal and "found colour 2, grey 0" in refusal
    for unknown in ([*door, "--camera", "back-cam"], [*door[:4], "--camera", "lobby-cam"]):
        refused = runner.invoke(app, [*unknown, "--json"])
        assert refused.exit_code == 2, refused.output
        assert refused.stdout == "" and "secret" not in refused.output
    named = " ".join(runner.invoke(app, [*door, "--camera", "back-cam"]).output.split())
    assert "error: door 'front' has no camera 'back-cam' in the gates file" in named
    assert "its cameras: lobby-cam (replay:lobby), side-cam (rtsp://user:***@10.0.0.7/side); nothing" in named
    no_config = runner.invoke(app, [*door[:4], "--camera", "lobby-cam"])
    assert "error: --camera needs --config" in " ".join(no_config.output.split())

    head = report["audit_chain"]["last_sequence"]
    checkpoint = tmp_path / "checkpoint.json"
    assert runner.invoke(app, ["audit", "checkpoint", "export", "--out", str(checkpoint)]).exit_code == 0
    _append_copies(engine, keyring, first=1, last=head)  # both cameras' tracks again, after the checkpoint
    since = [*door, "--camera", "lobby-cam", "--since-checkpoint", str(checkpoint), "--json"]
    resumed = runner.invoke(app, since)
    assert resumed.exit_code == 0, resumed.output
    after = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert after["calibration"] == report["calibration"] and after["colours"][0]["events"] == 10
    assert after["audit_chain"]["first_sequence"] == head + 1
