"""A gate run closes the database engine its composition root opened, however the run ends; on PostgreSQL.

The single-camera form (`run_one_camera`), a daemon's camera worker (`run_camera`) and the daemon's own
engine for the names in its decision lines (`run_config_file`) opened an engine and never disposed of it:
its pooled connection stayed open in PostgreSQL (pg_stat_activity) until the garbage collector found the
engine, and psycopg then warned that a connection was deleted while still open. Each run here connects
under an application_name of its own, and the test counts that name's connections once the run is over.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
from pathlib import Path

import cv2
import pytest

from gate import CameraUnavailable, DaemonSettings, GracefulStop, load_gates_file
from gate.app import run_camera, run_config_file, run_one_camera
from tests.connections import assert_no_connection_left, named_database
from tests.fakes import Placement, build_frames

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def application_name(database_url: str, monkeypatch: pytest.MonkeyPatch, register_door) -> str:
    """The gate's database is `database_url` under a name of this test's own, with the gates' door `lab`
    registered; a master key is set."""
    url, name = named_database(database_url, "fg-gate")
    monkeypatch.setenv("FACEGATE_DATABASE_URL", url)
    monkeypatch.setenv("FACEGATE_MASTER_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    monkeypatch.setenv("FACEGATE_GATE_DECISION__MAX_FRAME_AGE_S", "60")  # a loaded machine decides late
    register_door("lab")
    return name


def _ignored(_line: str) -> None:
    """A decision line nobody reads."""


def _frames(tmp_path: Path, recognizer, photo: bytes | None, *, passes: int = 1) -> str:
    """A folder of frames: `passes` times one face walking past (a stranger: no one is enrolled) then an
    empty doorway (a track and its decision each), or an empty doorway only."""
    folder = tmp_path / "frames"
    folder.mkdir()
    placements = [] if photo is None else [Placement(recognizer.decode(photo), 30, 100)]
    frames = (build_frames(placements, count=6) + build_frames([], count=6)) * passes
    for index, frame in enumerate(frames if photo is not None else frames[:2]):
        cv2.imwrite(str(folder / f"{index:03d}.png"), frame)
    return str(folder)


def test_a_single_camera_gate_closes_its_engine_when_its_video_ends(
    tmp_path, database_url, application_name, recognizer
) -> None:
    source = _frames(tmp_path, recognizer, None)
    run_one_camera(source=source, door="lab", daemon=DaemonSettings(http_port=0), print_line=_ignored)
    assert_no_connection_left(database_url, application_name)


def test_a_single_camera_gate_closes_its_engine_when_sigterm_stops_it(
    tmp_path, database_url, application_name, recognizer, group_faces
) -> None:
    """SIGTERM (its handler, installed by the run) ends the run at the next frame, after a first decision."""
    source = _frames(tmp_path, recognizer, group_faces[5], passes=3)
    lines: list[str] = []

    def terminate_at_first_line(line: str) -> None:
        lines.append(line)
        os.kill(os.getpid(), signal.SIGTERM)

    run_one_camera(
        source=source, door="lab", daemon=DaemonSettings(http_port=0), print_line=terminate_at_first_line
    )

    assert len(lines) == 1 and "denied" in lines[0], lines  # stopped: the next two passes were not read
    assert_no_connection_left(database_url, application_name)


def test_a_single_camera_gate_that_cannot_start_closes_its_engine(
    tmp_path, database_url, application_name
) -> None:
    with pytest.raises(CameraUnavailable):
        run_one_camera(
            source=str(tmp_path / "missing.avi"),
            door="lab",
            daemon=DaemonSettings(http_port=0),
            print_line=_ignored,
        )
    assert_no_connection_left(database_url, application_name)


def _gates_file(tmp_path: Path, source: str) -> Path:
    gates = tmp_path / "gates.yaml"
    gates.write_text(
        json.dumps(
            {"daemon": {"http_port": 0}, "cameras": [{"name": "cam", "source": source, "door": "lab"}]}
        )
    )
    return gates


def test_a_camera_worker_closes_its_engine_when_its_video_ends_or_it_cannot_start(
    tmp_path, database_url, application_name, recognizer
) -> None:
    """`run_camera` is what the daemon's worker process runs (here in this process, to see its engine)."""
    camera = load_gates_file(_gates_file(tmp_path, _frames(tmp_path, recognizer, None))).cameras[0]
    run_camera(camera, lambda _event: None, GracefulStop())
    assert_no_connection_left(database_url, application_name)

    missing = load_gates_file(_gates_file(tmp_path, str(tmp_path / "missing.avi"))).cameras[0]
    with pytest.raises(CameraUnavailable):
        run_camera(missing, lambda _event: None, GracefulStop())
    assert_no_connection_left(database_url, application_name)


def test_a_gates_file_run_closes_the_engine_of_its_decision_lines(
    tmp_path, database_url, application_name, recognizer
) -> None:
    """The daemon's own engine (names in decision lines); its worker processes have exited by then."""
    gates = load_gates_file(_gates_file(tmp_path, _frames(tmp_path, recognizer, None)))
    run_config_file(gates, is_verbose=False, print_line=_ignored)
    assert_no_connection_left(database_url, application_name)
