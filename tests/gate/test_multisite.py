"""Several sites on the real PostgreSQL: two `facegate serve` processes and two edge gates (issue 15).

Each edge gate is `python -m gate` with only a device key and an API address. Its gallery comes sealed
to its own key pair; what it holds is read from its sealed cache with its private key. Real photos,
real models, real processes, real HTTP.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pytest

from gate.journal import JOURNAL_FILE
from storage import (
    Decision,
    EventFilter,
    Keyring,
    Role,
    bind_device_doors,
    create_api_key,
    query_events,
    revoke_api_key,
    session_scope,
)
from tests.fakes import Placement, build_frames
from tests.gate.edge_support import (
    WAIT_S,
    ApiServer,
    EdgeGate,
    start_api_server,
    start_edge_gate,
    wait_for,
)
from tests.gate.journal_support import chain_holds, stored_events
from tests.gate.mjpeg import MjpegCamera
from tests.processes import killed_on_exit

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
SCENE_FACE_FRAMES, SCENE_EMPTY_FRAMES = 5, 7
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAY = {"weekdays": EVERY_DAY, "start": "00:00", "end": "24:00"}


def _device_token(engine, door: str) -> str:
    with session_scope(engine) as session:
        token, _ = create_api_key(session, role=Role.device, label=f"{door} gate", now=datetime.now(UTC))
        bind_device_doors(session, key_id=token.split("_")[1], doors=[door], create_doors=True)
    return token


def _admin_token(engine) -> str:
    with session_scope(engine) as session:
        return create_api_key(session, role=Role.admin, label="admin", now=datetime.now(UTC))[0]


def _camera(recognizer, photo: bytes, *, interval_s: float) -> MjpegCamera:
    """A face for 5 frames, then an empty doorway for 7 (the track ends), over and over until stopped: one
    decision per scene, for as long as the test needs, however slowly a loaded machine runs the gate."""
    face = recognizer.decode(photo)
    scene = build_frames([Placement(face, 30, 100)], count=SCENE_FACE_FRAMES)
    scene += build_frames([], count=SCENE_EMPTY_FRAMES)
    return MjpegCamera(scene, interval_s=interval_s, is_looping=True)


def _enroll(server: ApiServer, admin: str, name: str, photo: bytes, *, group_id: int) -> int:
    """Create, admit to the group, enroll (each through `server`); the person's id."""
    person = server.request("POST", "/people", admin, {"name": name})["id"]
    server.request("PUT", f"/access/groups/{group_id}/members/{person}", admin)
    server.request("POST", f"/people/{person}/faces", admin, files=[(f"{name}.jpg", photo)])
    return int(person)


class Watch:
    """Polls both gates' sealed caches, remembering every person each one ever held."""

    def __init__(self, gates: dict[str, EdgeGate]) -> None:
        self.gates = gates
        self.ever_held: dict[str, set[int]] = {door: set() for door in gates}

    def holds(self, door: str, person: int) -> bool:
        for name, gate in self.gates.items():
            assert gate.process.poll() is None, gate.err.read_text()[-3000:]
            self.ever_held[name] |= gate.held_people()
        return person in self.gates[door].held_people()


def _stale_frames(gate: EdgeGate) -> int:
    """Frames in which the gate denied a face because its gallery went stale: the first is logged with
    its cause, the later ones as a count per error_audit_interval_s."""
    log = gate.err.read_text()
    counted = re.findall(r"gallery still unavailable: (\d+) frames with a face", log)
    return log.count("gallery last confirmed by the API") + sum(int(n) for n in counted)


def _printed(gate: EdgeGate) -> list[str]:
    return [line for line in gate.out.read_text().splitlines() if ": granted" in line or ": denied" in line]


def test_two_edge_gates_hold_only_their_doors_people_and_deliver_every_event_once(
    tmp_path: Path, database_url: str, engine, recognizer, group_faces
) -> None:
    master_key = secrets.token_bytes(32)
    admin = _admin_token(engine)
    tokens = {door: _device_token(engine, door) for door in ("lab", "lobby")}
    # Everything started is stopped on the way out, also when a later start fails (the second server, say).
    with ExitStack() as running:
        servers = []
        for name in ("api-a", "api-b"):
            servers.append(start_api_server(tmp_path, name, database_url=database_url, master_key=master_key))
            running.callback(servers[-1].stop)
        front, back = servers  # people are enrolled through `front`; both gates poll `back`
        groups = {}
        for door in ("lab", "lobby"):
            groups[door] = front.request("POST", "/access/groups", admin, {"name": f"{door} staff"})["id"]
            front.request("POST", "/access/rules", admin, {"door": door, "group_id": groups[door], **ALL_DAY})
        ann_photo, carol_photo = group_faces[0], group_faces[1]
        cameras = {}
        for door in groups:
            cameras[door] = _camera(recognizer, ann_photo, interval_s=0.2)
            running.callback(cameras[door].stop)
        gates = {}
        for door in groups:
            gates[door] = start_edge_gate(
                tmp_path,
                f"gate-{door}",
                api_url=back.url,
                token=tokens[door],
                door=door,
                source=cameras[door].url,
            )
            running.enter_context(killed_on_exit(gates[door].process))
        watch = Watch(gates)
        for gate in gates.values():
            wait_for(lambda g=gate: g.held() is not None, timeout_s=WAIT_S, what="the first sealed sync")
        # How fast a change arrives is measured by bench/edge_sync.py (BENCHMARKS.md), not asserted here;
        # that a waiting sync is answered by the change is tests/api/test_devices.py's.
        ann = _enroll(front, admin, "Ann", ann_photo, group_id=groups["lab"])
        wait_for(lambda: watch.holds("lab", ann), timeout_s=WAIT_S, what="Ann at the lab gate")
        carol = _enroll(front, admin, "Carol", carol_photo, group_id=groups["lobby"])
        wait_for(lambda: watch.holds("lobby", carol), timeout_s=WAIT_S, what="Carol at the lobby gate")

        wait_for(
            lambda: any("granted  person" in line for line in _printed(gates["lab"])),
            timeout_s=WAIT_S,
            what="a grant at the lab",
        )
        wait_for(lambda: len(_printed(gates["lobby"])) >= 3, timeout_s=WAIT_S, what="lobby decisions")

        front.request("DELETE", f"/people/{ann}", admin)
        wait_for(lambda: not watch.holds("lab", ann), timeout_s=WAIT_S, what="Ann erased at the lab gate")
        front.request("DELETE", f"/people/{carol}", admin)
        wait_for(
            lambda: not watch.holds("lobby", carol),
            timeout_s=WAIT_S,
            what="Carol erased at the lobby gate",
        )
        watch.holds("lab", ann)
        assert watch.ever_held == {"lab": {ann}, "lobby": {carol}}  # never the other door's person

        for gate in gates.values():
            gate.process.send_signal(signal.SIGTERM)
        for gate in gates.values():
            assert gate.process.wait(timeout=WAIT_S) == 0, gate.err.read_text()[-3000:]

    assert not any((gate.home / "facegate.db").exists() for gate in gates.values())  # no database at the edge
    lab_lines = _printed(gates["lab"])
    assert not any(line for line in _printed(gates["lobby"]) if "granted" in line)  # Ann is a stranger there
    with session_scope(engine) as session:
        for door, gate in gates.items():
            events, _ = query_events(session, where=EventFilter(door=door), limit=10_000)
            decided = sorted((e for e in events if e.track_id is not None), key=lambda e: e.sequence)
            assert len(decided) == len(_printed(gate))  # every decision landed, none twice
            times = [e.occurred_at for e in decided]
            assert times == sorted(times)  # in the order the gate decided
        granted = [
            e
            for e in query_events(session, where=EventFilter(door="lab"), limit=10_000)[0]
            if e.decision is Decision.granted
        ]
    assert len(granted) == sum("granted" in line for line in lab_lines) >= 1
    assert all(e.person_id == ann for e in granted)
    assert chain_holds(engine, Keyring([master_key]))
    # the gates' events carry their uid; the API writes the two erasures' events without one
    uids = [s.event_uid for s in stored_events(engine) if s.event_uid is not None]
    assert len(uids) == len(set(uids)) == _event_count(engine) - 2


def _event_count(engine) -> int:
    with session_scope(engine) as session:
        return query_events(session, limit=1)[1]


def _journal_uids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [
        json.loads(line)["uid"]
        for line in path.read_bytes().splitlines(keepends=True)
        if line.endswith(b"\n")
    ]


def test_no_event_is_lost_or_doubled_across_an_api_outage_and_a_sigkill_of_the_edge_gate(
    tmp_path: Path, database_url: str, engine, recognizer, group_faces
) -> None:
    master_key = secrets.token_bytes(32)
    token = _device_token(engine, "lab")
    with ExitStack() as running:  # stopped in reverse, also when a later start fails
        server = start_api_server(tmp_path, "api", database_url=database_url, master_key=master_key)
        running.callback(server.stop)
        port = int(server.url.rsplit(":", 1)[1])
        camera = _camera(recognizer, group_faces[2], interval_s=0.1)
        running.callback(camera.stop)
        gate = start_edge_gate(
            tmp_path, "gate", api_url=server.url, token=token, door="lab", source=camera.url
        )
        running.enter_context(killed_on_exit(gate.process))
        journal = gate.home / "journal" / "lab" / JOURNAL_FILE
        wait_for(lambda: _event_count(engine) >= 2, timeout_s=WAIT_S, what="delivered events")
        server.process.send_signal(signal.SIGKILL)  # the API goes away mid-run
        server.process.wait()
        delivered = _event_count(engine)
        wait_for(
            lambda: len(_journal_uids(journal)) >= delivered + 3,
            timeout_s=WAIT_S,
            what="3 journalled events",
        )
        assert gate.process.poll() is None
        os.kill(gate.process.pid, signal.SIGKILL)
        assert gate.process.wait(timeout=10) == -signal.SIGKILL
    journalled = _journal_uids(journal)
    delivered_before = {s.event_uid for s in stored_events(engine)}
    assert set(journalled) - delivered_before  # the outage left events only in the journal

    empty = tmp_path / "empty"
    empty.mkdir()
    cv2.imwrite(str(empty / "0000.jpg"), build_frames([], count=1)[0])
    with ExitStack() as running:
        server = start_api_server(
            tmp_path, "api", database_url=database_url, master_key=master_key, port=port
        )
        running.callback(server.stop)
        restarted = start_edge_gate(
            tmp_path, "gate", api_url=server.url, token=token, door="lab", source=str(empty)
        )
        running.enter_context(killed_on_exit(restarted.process))
        assert restarted.process.wait(timeout=WAIT_S) == 0, restarted.err.read_text()[-3000:]
    stored = stored_events(engine)
    uids = [s.event_uid for s in stored]
    assert len(uids) == len(set(uids)) == len(delivered_before | set(journalled))  # exactly once
    positions = [uids.index(uid) for uid in journalled]
    assert positions == sorted(positions)  # in journal order
    assert chain_holds(engine, Keyring([master_key]))


def test_a_revoked_device_key_stops_the_sync_and_the_gate_fails_closed(
    tmp_path: Path, database_url: str, engine, recognizer, group_faces
) -> None:
    master_key = secrets.token_bytes(32)
    admin, token = _admin_token(engine), _device_token(engine, "lab")  # no rules at the lab: everyone
    with ExitStack() as running:  # stopped in reverse, also when a later step fails
        server = start_api_server(tmp_path, "api", database_url=database_url, master_key=master_key)
        running.callback(server.stop)
        person = server.request("POST", "/people", admin, {"name": "Ann"})["id"]
        server.request("POST", f"/people/{person}/faces", admin, files=[("ann.jpg", group_faces[0])])
        camera = _camera(recognizer, group_faces[0], interval_s=0.1)
        running.callback(camera.stop)
        gate = start_edge_gate(
            tmp_path,
            "gate",
            api_url=server.url,
            token=token,
            door="lab",
            source=camera.url,
            long_poll_s=1.0,
            max_stale_s=3.0,
        )
        running.enter_context(killed_on_exit(gate.process))
        wait_for(lambda: "granted  person" in gate.out.read_text(), timeout_s=WAIT_S, what="a grant")
        with session_scope(engine) as session:
            revoke_api_key(session, token.split("_")[1], now=datetime.now(UTC))
        wait_for(
            lambda: "API refused this device" in gate.err.read_text(),
            timeout_s=WAIT_S,
            what="sync refused",
        )
        wait_for(lambda: _stale_frames(gate) > 0, timeout_s=WAIT_S, what="stale")
        grants = gate.out.read_text().count("granted")
        # Ann is still at the door (the camera loops her scenes): the gate denies her face in three
        # scenes' worth of frames, and grants no one meanwhile.
        wait_for(lambda: _stale_frames(gate) >= 3 * SCENE_FACE_FRAMES, timeout_s=WAIT_S, what="Ann denied")
        assert gate.out.read_text().count("granted") == grants
        assert gate.process.poll() is None
