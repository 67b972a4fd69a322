"""The database cut away mid-run through a real TCP proxy: the gate keeps deciding and loses no event.

The gate is its composition root's wiring (`gate_decisions`: GalleryCache, journal, deliverer, run_gate)
over a folder of frames made from real photos, with the real models, against the real PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest

from gate import (
    GateRuntime,
    GateSettings,
    gate_decisions,
)
from gate.journal import JOURNAL_FILE
from recognition import vector_from_bytes
from storage import Decision, Keyring, StorageSettings, iter_templates, make_engine, session_scope
from tests.fakes import Placement, build_frames
from tests.gate.journal_support import chain_holds, stored_events
from tests.gate.mjpeg import MjpegCamera
from tests.gate.pg_proxy import TcpProxy, proxy_to_test_postgres
from tests.gate.test_health_truth import _healthz, monitored_probe
from tests.plaintext import template_leaks
from tests.processes import killed_on_exit

DOOR = "front"
FACE_FRAMES = 5
EMPTY_FRAMES = 7  # more than track_max_missed_frames: the next face is a new track
MASTER_KEY = bytes(range(32))
CLI_START_TIMEOUT_S = 120.0
JOURNAL_FILL_TIMEOUT_S = 90.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    yield from proxy_to_test_postgres()


@pytest.fixture
def keyring() -> Keyring:
    """A fixed key, so the gate subprocess (FACEGATE_MASTER_KEY) shares the test's keyring."""
    return Keyring([MASTER_KEY])


def scene_frames(recognizer, photos: list[bytes], *, face_frames: int = FACE_FRAMES) -> list:
    """One scene per photo: a face walking past, then an empty doorway."""
    frames = []
    for photo in photos:
        frames += build_frames([Placement(recognizer.decode(photo), 30, 100)], count=face_frames)
        frames += build_frames([], count=EMPTY_FRAMES)
    return frames


def write_scenes(folder: Path, recognizer, photos: list[bytes]) -> None:
    """The scenes as numbered JPEG files: a folder source, read frame by frame."""
    folder.mkdir()
    for index, frame in enumerate(scene_frames(recognizer, photos)):
        cv2.imwrite(str(folder / f"{index:04d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])


def _runtime(tmp_path: Path, gate_engine, keyring: Keyring, recognizer) -> GateRuntime:
    """The gate's runtime on `gate_engine` (through the proxy)."""
    return GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"),
        engine=gate_engine,
        keyring=keyring,
        recognizer=recognizer,
    )


def test_the_gate_decides_from_its_last_gallery_and_delivers_every_event_once_after_the_outage(
    tmp_path,
    database_url,
    engine,
    keyring,
    recognizer,
    group_faces,
    enroll_person,
    register_door,
    proxy,
    caplog,
):
    caplog.set_level(logging.INFO)
    register_door(DOOR, engine=engine)
    alice_id = enroll_person("Alice", group_faces[0])
    carol_id = enroll_person("Carol", group_faces[5])
    # Alice before the cut; a stranger, Carol and a stranger while the database is away; a stranger after.
    write_scenes(
        tmp_path / "frames",
        recognizer,
        [group_faces[0], group_faces[1], group_faces[5], group_faces[3], group_faces[2]],
    )
    gate_engine = make_engine(proxy.url_for(database_url))
    runtime = _runtime(tmp_path, gate_engine, keyring, recognizer)
    journal_dir = tmp_path / "journal"
    settings = GateSettings(
        gallery_poll_s=0.1,  # so the gallery is re-checked, and found unreachable, during the outage
        journal_dir=journal_dir,
        journal_retry_initial_s=0.05,
        journal_retry_max_s=0.2,
    )

    decisions, during_outage = [], b""
    for decision in gate_decisions(runtime, source=str(tmp_path / "frames"), door=DOOR, settings=settings):
        decisions.append(decision)
        if len(decisions) == 1:
            proxy.cut()
        elif len(decisions) == 4:
            during_outage = (journal_dir / JOURNAL_FILE).read_bytes()
            in_database = len(stored_events(engine))
            proxy.restore()
    gate_engine.dispose()

    verdicts = [(d.verdict.decision, d.verdict.person_id) for d in decisions]
    assert verdicts == [
        (Decision.granted, alice_id),
        (Decision.denied, None),
        (Decision.granted, carol_id),  # decided on the gallery loaded before the cut
        (Decision.denied, None),
        (Decision.denied, None),
    ]
    journalled = [line for line in during_outage.splitlines() if line]
    assert in_database <= 1 and len(journalled) >= 3, "events 2 to 4 waited in the journal"

    stored = stored_events(engine)
    assert [(s.track_id, s.decision) for s in stored] == [(d.track_id, d.verdict.decision) for d in decisions]
    uids = [s.event_uid for s in stored]
    assert None not in uids and len(set(uids)) == len(uids) == len(decisions)
    assert all(line.split(b'"uid":"')[1][:36].decode() in uids for line in journalled)
    assert [s.sequence for s in stored] == list(range(1, len(decisions) + 1))
    assert chain_holds(engine, keyring)
    assert (journal_dir / JOURNAL_FILE).stat().st_size == 0

    gallery_logs = [r.getMessage() for r in caplog.records if r.name == "gate.gallery"]
    assert sum("database unreachable" in m for m in gallery_logs) == 1  # once, not per frame
    assert sum("reachable again" in m for m in gallery_logs) == 1
    delivery_logs = [r.getMessage() for r in caplog.records if r.name == "gate.delivery"]
    assert sum("audit log unreachable" in m for m in delivery_logs) == 1

    with session_scope(engine) as session:
        templates = list(iter_templates(session, keyring, model_id=recognizer.model_id))
    vectors = [vector_from_bytes(t.plaintext, dim=recognizer.embedder.dim) for t in templates]
    assert template_leaks(during_outage, vectors) == []
    assert b"Alice" not in during_outage and b"Carol" not in during_outage


def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def journal_uids(path: Path) -> list[str]:
    """Uids of the complete lines of a journal file, in order."""
    return [
        json.loads(line)["uid"]
        for line in path.read_bytes().splitlines(keepends=True)
        if line.endswith(b"\n")
    ]


def start_gate(tmp_path: Path, database_url: str, source: str, *, run: int) -> subprocess.Popen[bytes]:
    """The gate's own entry point (`python -m gate`, what `facegate gate` runs) in its own process."""
    env = {
        "PATH": os.environ["PATH"],
        **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        "HOME": str(tmp_path),
        "FACEGATE_HOME": str(tmp_path / "home"),
        "FACEGATE_DATABASE_URL": database_url,
        "FACEGATE_MASTER_KEY": base64.urlsafe_b64encode(MASTER_KEY).decode(),
        "FACEGATE_GATE_JOURNAL_DIR": str(tmp_path / "journal"),
        "FACEGATE_GATE_JOURNAL_RETRY_INITIAL_S": "0.05",
        "FACEGATE_GATE_JOURNAL_RETRY_MAX_S": "0.2",
        "FACEGATE_GATE_DAEMON_HTTP_PORT": "0",
    }
    command = [sys.executable, "-m", "gate", "--source", source, "--door", DOOR]
    with (tmp_path / f"gate-{run}.out").open("wb") as out, (tmp_path / f"gate-{run}.err").open("wb") as err:
        return subprocess.Popen(command, env=env, stdout=out, stderr=err)


def test_a_gate_killed_with_sigkill_loses_no_journalled_event(
    tmp_path, database_url, engine, recognizer, group_faces, enroll_person, register_door, proxy
):
    register_door(DOOR, engine=engine)
    enroll_person("Alice", group_faces[0])
    # Strangers only: a grant's printed line names the person, which needs the database.
    strangers = [group_faces[1], group_faces[3], group_faces[2]] * 5  # 225 frames: the stamp counts to 255
    camera = MjpegCamera(scene_frames(recognizer, strangers, face_frames=8), interval_s=0.1)
    gate = start_gate(tmp_path, proxy.url_for(database_url), camera.url, run=1)
    journal = tmp_path / "journal" / JOURNAL_FILE
    try:
        with killed_on_exit(gate):
            wait_for(
                lambda: b"denied" in (tmp_path / "gate-1.out").read_bytes() or gate.poll() is not None,
                timeout_s=CLI_START_TIMEOUT_S,
                what="the gate's first decision",
            )
            assert gate.poll() is None, (tmp_path / "gate-1.err").read_text()
            proxy.cut()
            wait_for(
                lambda: len(journal_uids(journal)) >= 3,
                timeout_s=JOURNAL_FILL_TIMEOUT_S,
                what="3 journalled events",
            )
            os.kill(gate.pid, signal.SIGKILL)
            assert gate.wait(timeout=10) == -signal.SIGKILL
    finally:
        camera.stop()
    journalled = journal_uids(journal)
    delivered_before = {s.event_uid for s in stored_events(engine)}

    proxy.restore()
    (tmp_path / "empty").mkdir()
    cv2.imwrite(str(tmp_path / "empty" / "0000.jpg"), build_frames([], count=1)[0])
    restarted = start_gate(tmp_path, proxy.url_for(database_url), str(tmp_path / "empty"), run=2)
    assert restarted.wait(timeout=CLI_START_TIMEOUT_S) == 0, (tmp_path / "gate-2.err").read_text()

    stored = stored_events(engine)
    uids = [s.event_uid for s in stored]
    assert len(set(uids)) == len(uids) == len(delivered_before | set(journalled))  # exactly once
    positions = [uids.index(uid) for uid in journalled]  # nothing journalled is lost ...
    assert positions == sorted(positions)  # ... and it arrives in journal order
    assert chain_holds(engine, Keyring([MASTER_KEY]))
    assert journal.stat().st_size == 0


def test_a_gallery_unavailable_past_its_stale_limit_makes_the_camera_unhealthy(
    tmp_path, database_url, engine, keyring, recognizer, group_faces, enroll_person, register_door, proxy
):
    """/healthz (the real MonitoringServer, over HTTP) said 200 ok while the database had been away longer
    than gallery_max_stale_s and every face was denied gallery_unavailable: those denials are audited but
    yield no decision, so neither the health board nor the metrics saw them. The probe now reports the
    gallery's state as it is fetched."""
    register_door(DOOR, engine=engine)
    alice = enroll_person("Alice", group_faces[0])
    write_scenes(tmp_path / "frames", recognizer, [group_faces[0], group_faces[0]])
    gate_engine = make_engine(proxy.url_for(database_url))
    runtime = _runtime(tmp_path, gate_engine, keyring, recognizer)
    settings = GateSettings(
        gallery_poll_s=0.1,  # so the gallery is re-checked, and found unreachable, after the cut
        gallery_max_stale_s=0.0,  # and served no longer
        journal_dir=tmp_path / "journal",
        decision={"cooldown_s": 0.0},
    )
    probe, server = monitored_probe(DOOR)
    seen, is_cut = [], False
    try:
        source = str(tmp_path / "frames")
        for decision in gate_decisions(runtime, source=source, door=DOOR, settings=settings, probe=probe):
            seen.append((decision.verdict.decision, decision.verdict.person_id))
            status, body = _healthz(server.port)
            assert (status, body["cameras"][DOOR]["gallery_state"]) == (200, "ok")
            proxy.cut()
            is_cut = True
            time.sleep(0.2)  # past gallery_poll_s: the next face finds the database away
        status, body = _healthz(server.port)
        exposition = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10.0).read()
    finally:
        server.stop()
        if is_cut:
            proxy.restore()
        gate_engine.dispose()
    assert seen == [(Decision.granted, alice)]  # Alice's second visit: denied gallery_unavailable (audited)
    camera = body["cameras"][DOOR]
    assert (status, body["status"], camera["healthy"], camera["gallery_state"]) == (
        503,
        "unhealthy",
        False,
        "unavailable",
    )
    assert f'facegate_gallery_available{{camera="{DOOR}"}} 0.0'.encode() in exposition
