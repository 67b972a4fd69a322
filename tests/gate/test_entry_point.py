"""`python -m gate` owns the gate's composition: its daemon and camera workers never import `api`."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from gate.__main__ import main
from tests.fakes import Placement, build_frames

FORBIDDEN = {"api", "typer", "rich", "fastapi", "uvicorn", "starlette"}
TIMEOUT_S = 240.0


def _imported(import_log: str) -> set[str]:
    """Module names from `-X importtime` lines (`import time: self | cumulative | name`) of every process."""
    names = set()
    for line in import_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_daemon_and_camera_workers_import_nothing_from_api(
    tmp_path: Path, recognizer, group_faces, register_door
) -> None:
    register_door("lab")
    folder = tmp_path / "frames"
    folder.mkdir()
    face = recognizer.decode(group_faces[0])
    for index, frame in enumerate(build_frames([Placement(face, 30, 100)], count=4)):
        cv2.imwrite(str(folder / f"{index:03d}.png"), frame)
    gates = tmp_path / "gates.yaml"
    gates.write_text(
        json.dumps(
            {"daemon": {"http_port": 0}, "cameras": [{"name": "cam", "source": str(folder), "door": "lab"}]}
        )
    )
    environment = {
        **os.environ,
        "PYTHONPROFILEIMPORTTIME": "1",  # inherited by the spawned camera worker
        "FACEGATE_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "gate", "--config", str(gates)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "cam: frame" in done.stdout  # the worker ran the camera and its decision reached the parent
    imported = _imported(done.stderr)
    assert "gate.app" in imported and "gate.worker" in imported
    assert {name for name in imported if name.split(".")[0] in FORBIDDEN} == set()


@pytest.mark.parametrize("name", ["FACEGATE_GATE_DECISON__COOLDOWN_S", "FACEGATE_RECOGNITION_DETECTR__KIND"])
def test_a_typo_under_the_gates_prefixes_stops_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """`python -m gate` run without `facegate gate` (which checks first) left the default in force."""
    monkeypatch.setenv(name, "0")
    assert main(["--source", "0", "--door", "front", "--check-config"]) == 1
    assert capsys.readouterr().err == f"error: unknown environment variable(s) {name} (a typo?)\n"
