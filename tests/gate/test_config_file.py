"""The gates file: cameras with GateSettings overrides merged over the environment; dotted-path errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate import ConfigFileError, load_gates_file
from gate.config_file import merge_overrides

VALID = """
daemon:
  http_port: 0
  log_format: json
defaults:
  track_iou_min: 0.4
  door: {unlock_s: 3}
cameras:
  - name: front-cam
    source: rtsp://user:secret@10.0.0.5/stream1
    door: front
  - name: back-cam
    source: /srv/replay/back.avi
    door: back
    settings:
      track_iou_min: 0.5
      door: {kind: mqtt, topic: site/back/unlock}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text(text)
    return path


def test_cameras_get_defaults_then_their_own_overrides_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_GATE_TRACK_MAX_MISSED_FRAMES", "9")

    config = load_gates_file(_write(tmp_path, VALID))

    assert (config.daemon.http_port, config.daemon.log_format) == (0, "json")
    front, back = config.cameras
    assert (front.name, front.door, back.name, back.door) == ("front-cam", "front", "back-cam", "back")
    assert front.source == "rtsp://user:secret@10.0.0.5/stream1"
    assert (front.settings.track_iou_min, back.settings.track_iou_min) == (0.4, 0.5)
    assert front.settings.track_max_missed_frames == back.settings.track_max_missed_frames == 9
    assert (front.settings.door.kind, front.settings.door.unlock_s) == ("log_only", 3.0)
    assert back.settings.door.kind == "mqtt" and back.settings.door.topic == "site/back/unlock"


def test_every_error_is_reported_with_its_dotted_path(tmp_path: Path) -> None:
    text = """
daemon: {http_port: 70000}
cameras:
  - {name: a, source: "0", door: front, settings: {door: {kind: mqtt, tpoic: x}}}
  - {name: a, source: "1", door: back, settings: {track_iou_min: 2}}
"""
    with pytest.raises(ConfigFileError) as raised:
        load_gates_file(_write(tmp_path, text))

    lines = str(raised.value).splitlines()
    assert lines[0].endswith("gates.yaml: invalid")
    assert "daemon.http_port: Input should be less than or equal to 65535" in lines
    assert "cameras.0.settings.door.mqtt.tpoic: Extra inputs are not permitted" in lines
    assert "cameras.0.settings.door.mqtt.topic: Field required" in lines
    assert "cameras.1.name: duplicate camera name 'a'" in lines
    assert "cameras.1.settings.track_iou_min: Input should be less than or equal to 1" in lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cameras: []", "cameras: List should have at least 1 item"),
        ("cameras:\n  - {name: a, source: '0'}", "cameras.0.door: Field required"),
        ("cameraz: []", "cameraz: Extra inputs are not permitted"),
        (
            "defaults: {votes_requird: 2}\ncameras:\n  - {name: a, source: '0', door: d}",
            "defaults.votes_requird",
        ),
        ("cameras: [unclosed", "not valid YAML"),
    ],
)
def test_structural_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigFileError, match=expected.replace("[", r"\[")):
        load_gates_file(_write(tmp_path, text))


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_gates_file(tmp_path / "absent.yaml")


def test_a_nested_section_whose_kind_changes_is_replaced_not_merged() -> None:
    base = {"door": {"kind": "mqtt", "topic": "t", "unlock_s": 2}, "a": 1}
    assert merge_overrides(base, {"door": {"unlock_s": 4}}) == {
        "door": {"kind": "mqtt", "topic": "t", "unlock_s": 4},
        "a": 1,
    }
    assert merge_overrides(base, {"door": {"kind": "log_only"}}) == {"door": {"kind": "log_only"}, "a": 1}


def test_two_cameras_cannot_share_one_event_journal(tmp_path: Path) -> None:
    text = """
cameras:
  - {name: in, source: "0", door: front}
  - {name: out, source: "1", door: front}
  - {name: side, source: "2", door: front, settings: {journal_dir: /srv/journal/side}}
"""
    with pytest.raises(
        ConfigFileError, match="cameras.1.settings.journal_dir: 'out' would share the journal"
    ):
        load_gates_file(_write(tmp_path, text))
