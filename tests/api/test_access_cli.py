"""`facegate access` end to end: groups, members and rules, then the gate honouring them on a real video."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from api.cli import app
from api.cli.demo import write_video
from api.cli.demo_data import Scene
from storage import StorageSettings, list_doors, open_database, rename_door, session_scope

runner = CliRunner()
ALL_DAYS = [arg for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") for arg in ("--day", day)]


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _enroll(tmp_path: Path, name: str, photo: bytes) -> None:
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(photo)
    code, output = _invoke("enroll", name, str(path))
    assert code == 0, output


def _carol_and_dan_enrolled(tmp_path: Path, group_faces: list[bytes]) -> Path:
    """A new installation with Carol (person 1) and Dan (person 2) enrolled; a video of Carol at a door."""
    assert _invoke("init")[0] == 0
    _enroll(tmp_path, "Carol", group_faces[1])
    _enroll(tmp_path, "Dan", group_faces[0])
    face = cv2.imdecode(np.frombuffer(group_faces[1], np.uint8), cv2.IMREAD_COLOR)
    video = tmp_path / "door.avi"
    write_video(
        [Scene("Carol", cv2.resize(face, None, fx=1.5, fy=1.5), frozenset(), 0)], video, frames_per_scene=6
    )
    return video


def test_group_and_rule_commands_round_trip_and_fail_with_one_line(
    tmp_path: Path, group_faces: list[bytes]
) -> None:
    assert _invoke("init")[0] == 0
    _enroll(tmp_path, "Carol", group_faces[1])

    assert _invoke("access", "group", "create", "staff") == (0, "group 1 staff: no members\n")
    assert _invoke("access", "group", "add-member", "1", "1") == (0, "group 1 staff: 1\n")
    code, output = _invoke("access", "group", "list")
    assert code == 0 and "1 groups" in output and "staff" in output
    code, output = _invoke(
        "access", "rule", "add", "--door", "lab", "--group-id", "1", "--day", "mon", "--day", "fri",
        "--start", "08:00", "--end", "17:00", "--timezone", "Europe/Berlin", "--create-door",
    )  # fmt: skip
    assert (code, output) == (0, "rule 1 added to door lab\n")
    code, output = _invoke("access", "rule", "list", "--door", "lab")
    assert code == 0 and "1 door rules" in output and "mon,fri" in output and "Europe/Berlin" in output

    code, output = _invoke("access", "group", "create", "staff")
    assert code == 1 and "Conflict" in output
    code, output = _invoke(
        "access", "rule", "add", "--door", "lab", "--group-id", "1", "--day", "mon",
        "--start", "22:00", "--end", "06:00",
    )  # fmt: skip
    assert code == 1 and "overnight" in output
    assert _invoke("access", "group", "remove-member", "1", "1") == (0, "group 1 staff: no members\n")
    code, output = _invoke("access", "rule", "delete", "1")
    assert code == 1 and "DoorsLeftOpen: deleting rule 1 would leave door 'lab' without rules" in output
    assert _invoke("access", "rule", "delete", "1", "--allow-open-doors") == (0, "rule 1 deleted\n")
    assert _invoke("access", "group", "delete", "1") == (0, "group 1 deleted\n")
    code, output = _invoke("access", "group", "delete", "1")
    assert code == 1 and "NotFound" in output


def test_the_gate_denies_a_known_person_outside_their_rights(
    tmp_path: Path, group_faces: list[bytes]
) -> None:
    video = _carol_and_dan_enrolled(tmp_path, group_faces)
    assert _invoke("doors", "create", "lab")[0] == 0

    code, output = _invoke("gate", "--source", str(video), "--door", "lab")
    assert code == 0 and "granted  Carol (person 1)" in output  # no rules yet: every enrolled person

    assert _invoke("access", "group", "create", "night-shift")[0] == 0
    assert _invoke("access", "group", "add-member", "1", "2")[0] == 0  # Dan only
    rule = [
        "access",
        "rule",
        "add",
        "--door",
        "lab",
        "--group-id",
        "1",
        *ALL_DAYS,
        "--start",
        "00:00",
        "--end",
        "24:00",
    ]
    assert _invoke(*rule)[0] == 0
    code, output = _invoke("gate", "--source", str(video), "--door", "lab")
    assert code == 0 and "denied   not_authorised" in output and "granted" not in output

    assert _invoke("access", "group", "add-member", "1", "1")[0] == 0
    code, output = _invoke("gate", "--source", str(video), "--door", "lab")
    assert code == 0 and "granted  Carol (person 1)" in output
    code, output = _invoke("events", "--door", "lab", "--decision", "denied")
    assert code == 0 and "1 of 1 events" in output


def test_a_gate_started_after_its_door_was_renamed_keeps_the_doors_rules(
    tmp_path: Path, group_faces: list[bytes]
) -> None:
    """A gate configured with the old name registered a new, rule-less door of that name at its start:
    every enrolled person passed the renamed door's gate."""
    video = _carol_and_dan_enrolled(tmp_path, group_faces)
    assert _invoke("access", "group", "create", "night-shift")[0] == 0
    assert _invoke("access", "group", "add-member", "1", "2")[0] == 0  # Dan only
    assert _invoke("access", "rule", "add", "--door", "lab", "--group-id", "1", *ALL_DAYS,
                   "--start", "00:00", "--end", "24:00", "--create-door")[0] == 0  # fmt: skip
    engine = open_database(StorageSettings())
    try:
        with session_scope(engine) as session:
            [lab] = list_doors(session)
            assert lab.id is not None
            rename_door(session, lab.id, name="lab 2", now=datetime.now(UTC))
    finally:
        engine.dispose()

    code, output = _invoke("gate", "--source", str(video), "--door", "lab")
    assert code == 0 and "denied   not_authorised" in output and "granted" not in output, output
    assert "door lab was renamed to lab 2: this gate applies its rules under the former name" in output
    code, output = _invoke("access", "rule", "list")
    assert code == 0 and "1 door rules" in output and "lab 2" in output
