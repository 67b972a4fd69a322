"""One camera of a door calibrated apart: its own events and settings, its own thresholds at the real gate."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from gate import (
    CameraSelection,
    CameraSpec,
    DoorCalibrationRefused,
    DoorCalibrationResult,
    GateSettings,
    ThresholdUnavailable,
    UnknownCamera,
    calibrate_door,
    camera_pad_settings,
    check_gate_config,
    door_pad_settings,
    load_gates_file,
    redacted_source,
)
from recognition import (
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    PASSIVE_FEATURE,
    PresentationAttackDetector,
    read_pad_card,
    threshold_at_bpcer,
    write_pad_card,
)
from storage import Cipher, Engine, StorageSettings
from tests.data import encode_jpeg
from tests.gate.pad_support import (
    NOON,
    door_clips,
    hand_set_rule,
    pad_gate_settings,
    pad_with,
    run_pad_gate,
    sample,
)

TARGET = 0.5
"""A lax target, so that the least count it needs (10) is a few clips on two cores."""
LOBBY = "replay:lobby"
SIDE_URL = "rtsp://user:secret@10.0.0.7/side"
SIDE = redacted_source(SIDE_URL)
"""What the side camera's events record: the gate audits its source with the password replaced."""


def _settings(policy: str, **pad: object) -> GateSettings:
    return pad_gate_settings(policy, bpcer_target=TARGET, **pad)


def _cameras(lobby: GateSettings, side: GateSettings) -> list[CameraSpec]:
    """The door's two cameras: the lobby decides by the passive mean, the side entrance by the track rule."""
    return [
        CameraSpec(name="lobby-cam", source=LOBBY, door="front", settings=lobby),
        CameraSpec(name="side-cam", source=SIDE_URL, door="front", settings=side),
    ]


@pytest.fixture
def enrolled(enroll_person: Callable[[str, bytes], int]) -> int:
    return enroll_person("T1", encode_jpeg(sample("image_T1.jpg")))


def _calibrate_camera(
    engine: Engine,
    keyring: Cipher,
    detector: PresentationAttackDetector,
    cameras: list[CameraSpec],
    name: str,
) -> DoorCalibrationResult:
    """Camera `name` of door front calibrated at TARGET, as `calibrate-door --camera NAME` runs it."""
    selection, settings = camera_pad_settings(cameras, "front", name)
    return calibrate_door(
        engine,
        keyring=keyring,
        door="front",
        settings=settings,
        detector=detector,
        bpcer_target=TARGET,
        camera=selection,
    )


@pytest.mark.model
def test_a_camera_is_calibrated_from_its_own_events_under_its_own_settings(
    engine, keyring, recognizer, pad_model_dir: Path, tmp_path: Path, enrolled
) -> None:
    """Two cameras of one door with different PAD settings (the side one decides by the card's track rule):
    the door cannot be calibrated as one (its settings differ, and so do its events' scores), each camera
    can, from its own events alone, by the score it decides by; too few events refuse naming the camera."""
    pad = pad_with(pad_model_dir, tmp_path, track_rule=hand_set_rule((PASSIVE_FEATURE, "frame_edges")))
    lobby, side = _settings("monitor", allow_track_rule=False), _settings("monitor")
    _, lobby_events = run_pad_gate(
        engine, keyring, recognizer, pad, door_clips(10, seed=40), settings=lobby, source=LOBBY
    )
    run_pad_gate(engine, keyring, recognizer, pad, door_clips(2, seed=41), settings=side, source=SIDE)
    cameras = _cameras(lobby, side)

    with pytest.raises(DoorCalibrationRefused, match=r"different pad settings; .* with --camera NAME"):
        door_pad_settings(cameras, "front")
    with pytest.raises(DoorCalibrationRefused, match="decided by another score than the passive score"):
        calibrate_door(
            engine, keyring=keyring, door="front", settings=lobby.pad, detector=pad, bpcer_target=TARGET
        )
    selection, settings = camera_pad_settings(cameras, "front", "lobby-cam")
    assert selection == CameraSelection(name="lobby-cam", source=LOBBY) and settings == lobby.pad
    assert camera_pad_settings(cameras, "front", LOBBY) == (selection, settings)  # by its audited source

    result = _calibrate_camera(engine, keyring, pad, cameras, "lobby-cam")

    colour, grey = result.colours
    scores = [e.pad_score for e in lobby_events if e.source == LOBBY and e.pad_score is not None]
    assert len(scores) == colour.event_count == 10 and grey.event_count == 0
    assert colour.calibration is not None and result.calibration.score == "passive"
    assert colour.calibration.attack_threshold == threshold_at_bpcer(scores, TARGET)
    assert [c.source for c in colour.cameras] == [LOBBY] and {r.source for r in colour.review} == {LOBBY}
    assert result.skipped == {} and result.camera == selection
    assert result.scope == "door front, camera lobby-cam"
    assert camera_pad_settings(cameras, "front", "side-cam")[0].source == "rtsp://user:***@10.0.0.7/side"
    with pytest.raises(
        DoorCalibrationRefused,
        match=r"^door front, camera side-cam: too few monitor events .* found colour 2, grey 0\)",
    ):
        _calibrate_camera(engine, keyring, pad, cameras, "side-cam")


def test_an_unknown_camera_names_the_doors_cameras_and_twin_sources_refuse() -> None:
    cameras = _cameras(_settings("monitor"), _settings("monitor"))
    with pytest.raises(UnknownCamera, match=r"door 'front' has no camera 'back-cam'") as refused:
        camera_pad_settings(cameras, "front", "back-cam")
    assert f"its cameras: lobby-cam ({LOBBY}), side-cam ({SIDE})" in str(refused.value)
    assert "secret" not in str(refused.value)  # a stream's password never reaches a message
    with pytest.raises(DoorCalibrationRefused, match="no camera of door 'back'"):
        camera_pad_settings(cameras, "back", "lobby-cam")
    twin = CameraSpec(name="lobby-2", source=LOBBY, door="front", settings=_settings("monitor"))
    with pytest.raises(
        DoorCalibrationRefused, match="lobby-cam and lobby-2 .* audited under the same source"
    ):
        camera_pad_settings([*cameras, twin], "front", "lobby-cam")


def _gates_file(path: Path, cameras: list[CameraSpec], tmp_path: Path) -> Path:
    """The cameras in a gates file, each with its own journal and its own `pad:` settings."""
    entries = [
        {
            "name": c.name,
            "source": c.source,
            "door": c.door,
            "settings": {
                "journal_dir": str(tmp_path / "journals" / c.name),
                "pad": c.settings.pad.model_dump(mode="json", exclude_none=True),
            },
        }
        for c in cameras
    ]
    path.write_text(yaml.safe_dump({"cameras": entries}))
    return path


@pytest.mark.model
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_camera_of_a_door_holds_its_own_calibration_and_the_gate_checks_each_apart(
    engine,
    database_url: str,
    keyring,
    recognizer,
    pad_model_dir: Path,
    tmp_path: Path,
    enrolled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each camera enforces the thresholds of its own calibration; the gate checks each camera's calibration
    against the card at start (the track rule's hash, fe8be52) and names the camera whose is stale."""
    rule = hand_set_rule((PASSIVE_FEATURE, "frame_edges"))
    pad = pad_with(pad_model_dir, tmp_path / "card", track_rule=rule)
    lobby, side = _settings("monitor", allow_track_rule=False), _settings("monitor")
    clips = {LOBBY: door_clips(10, seed=42), SIDE: door_clips(10, seed=43)}
    enforced: dict[str, GateSettings] = {}
    for name, source, settings in (("lobby-cam", LOBBY, lobby), ("side-cam", SIDE, side)):
        run_pad_gate(engine, keyring, recognizer, pad, clips[source], settings=settings, source=source)
        result = _calibrate_camera(engine, keyring, pad, _cameras(lobby, side), name)
        own = result.calibration
        allow_rule = settings.pad.allow_track_rule
        enforced[source] = _settings("enforce", allow_track_rule=allow_rule, door_calibration=own)
    lobby_at, side_at = (enforced[s].pad.door_calibration for s in (LOBBY, SIDE))
    assert lobby_at is not None and side_at is not None
    kinds = (lobby_at.score, side_at.score, side_at.track_rule_sha256)
    assert kinds == ("passive", "track_rule", rule.rule_sha256)
    assert lobby_at.colour != side_at.colour

    later = NOON + timedelta(days=1)
    for source, settings in enforced.items():
        calibration = settings.pad.door_calibration
        assert calibration is not None and calibration.colour is not None
        _, events = run_pad_gate(
            engine, keyring, recognizer, pad, clips[source][:8], settings=settings, source=source, at=later
        )
        mine = [e for e in events if e.occurred_at == later and e.source == source]
        assert len(mine) == 2 and {e.pad_threshold for e in mine} == {calibration.colour.attack_threshold}
        basis = f"door calibration: BPCER 0.5, {calibration.colour.event_count} events"
        assert all(basis in json.loads(e.pad_cues or "{}")["basis"] for e in mine)

    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)  # the check finds door front where it decided
    models = StorageSettings().home / "models"
    shutil.copytree(pad_model_dir, models, dirs_exist_ok=True)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    write_pad_card(read_pad_card(card_path).model_copy(update={"track_rule": rule}), card_path)
    both = _cameras(enforced[LOBBY], enforced[SIDE])
    gates = _gates_file(tmp_path / "gates.yaml", both, tmp_path)
    assert [c.settings.pad for c in load_gates_file(gates).cameras] == [s.pad for s in enforced.values()]
    assert check_gate_config(load_gates_file(gates)).splitlines()[0] == "configuration valid: 2 camera(s)"

    refit = rule.model_copy(update={"weights": (1.0, 3.0)})
    write_pad_card(read_pad_card(card_path).model_copy(update={"track_rule": refit}), card_path)
    stale = (
        "door front, camera side-cam: its PAD door_calibration was measured with track rule "
        f"{rule.rule_sha256[:12]}"
    )
    with pytest.raises(ThresholdUnavailable, match=stale):
        check_gate_config(load_gates_file(gates))
    # The lobby camera decides by the passive mean: the refit rule leaves its calibration valid.
    lobby_only = _gates_file(tmp_path / "lobby.yaml", both[:1], tmp_path)
    assert (
        check_gate_config(load_gates_file(lobby_only)).splitlines()[0] == "configuration valid: 1 camera(s)"
    )
    refit_pad = pad_with(pad_model_dir, tmp_path / "refit", track_rule=refit)
    with pytest.raises(ThresholdUnavailable, match=rf"door front, source {re.escape(SIDE)}: .* track rule"):
        run_pad_gate(engine, keyring, recognizer, refit_pad, [], settings=enforced[SIDE], source=SIDE)
