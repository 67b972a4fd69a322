"""A camera whose source is a file that cannot be opened is audited camera_unavailable, as a camera away is.

`run_camera` is what the daemon's worker process runs for each camera of a gates file (here in this
process), with the real models, its journal and deliverer, on SQLite.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from gate import CAMERA_UNAVAILABLE, CameraUnavailable, GracefulStop, load_gates_file
from gate.app import run_camera
from storage import Decision, EventFilter, query_events, session_scope

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_gates_file_camera_whose_video_file_is_missing_is_audited_camera_unavailable(
    tmp_path, database_url, engine, register_door, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker raised CameraUnavailable and the watchdog restarted it, the door shut, and the audit log
    said nothing of that camera: a network camera that is down is audited camera_unavailable."""
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("FACEGATE_MASTER_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    register_door("lab", engine=engine)
    missing = tmp_path / "missing.avi"
    gates = tmp_path / "gates.yaml"
    camera = {"name": "cam", "source": str(missing), "door": "lab"}
    gates.write_text(json.dumps({"daemon": {"http_port": 0}, "cameras": [camera]}))

    with pytest.raises(CameraUnavailable):
        run_camera(load_gates_file(gates).cameras[0], lambda _event: None, GracefulStop())

    with session_scope(engine) as session:
        events, _ = query_events(session, where=EventFilter(door="lab"), limit=100)
    assert [(e.decision, e.reason, e.source) for e in events] == [
        (Decision.denied, CAMERA_UNAVAILABLE, str(missing))
    ]
