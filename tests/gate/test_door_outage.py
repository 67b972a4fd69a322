"""The door's broker away at start and again mid-run: grants are denied as door_error, audited, and the gate
keeps deciding and opens again once the broker is back.

The gate is its composition root's wiring (`gate_decisions`) over a real video of real enrolled faces, with
the real models, on SQLite and PostgreSQL; the door is an MQTT door on a private Mosquitto this test starts
and stops.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import queue
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from api.settings import ApiSettings
from gate import GateRuntime, GateSettings, gate_decisions
from recognition import Recognizer
from storage import (
    Decision,
    Engine,
    EventFilter,
    Keyring,
    Role,
    StorageSettings,
    query_events,
    session_scope,
)
from tests.api.conftest import make_services, make_tokens, wait_for_gallery
from tests.fakes import Placement, build_frames, write_video
from tests.processes import killed_on_exit

DOOR = "front"
HOST = "127.0.0.1"
TOPIC = "facegate-test/front"
BROKER_START_S = 30.0  # a hang bound, not a speed claim

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="no mosquitto binary")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _video(path: Path, recognizer, photos: list[bytes]) -> str:
    """Per photo, six frames of its face walking past and six of an empty doorway, as an MJPG video file."""
    frames = []
    for photo in photos:
        frames += build_frames([Placement(recognizer.decode(photo), 30, 100)], count=6)
        frames += build_frames([], count=6)
    return write_video(path, frames)


class Broker:
    """A private Mosquitto on `port`, started and stopped by the test, with a subscriber on TOPIC."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port, self.log_path = port, log_path
        self.received: queue.Queue[dict[str, object]] = queue.Queue()
        self._process: subprocess.Popen[bytes] | None = None
        self._subscriber: mqtt.Client | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                ["mosquitto", "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline_s = time.monotonic() + BROKER_START_S
        while True:
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0):
                    break
            except OSError:
                assert time.monotonic() < deadline_s, "the private mosquitto did not listen"
                time.sleep(0.05)
        subscribed = queue.Queue[bool]()
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(TOPIC, qos=1)
        client.on_subscribe = lambda *_args: subscribed.put(True)
        client.on_message = lambda _c, _u, message: self.received.put(json.loads(message.payload))
        client.connect(HOST, self.port)
        client.loop_start()
        assert subscribed.get(timeout=BROKER_START_S)
        self._subscriber = client

    def stop(self) -> None:
        if self._subscriber is not None:
            self._subscriber.disconnect()
            self._subscriber.loop_stop()
            self._subscriber = None
        if self._process is not None:
            with killed_on_exit(self._process) as process:
                process.terminate()
                process.wait(timeout=BROKER_START_S)
            self._process = None

    def messages(self, count: int) -> list[dict[str, object]]:
        """The next `count` messages the subscriber gets (it may get one after the publisher's PUBACK)."""
        return [self.received.get(timeout=BROKER_START_S) for _ in range(count)]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(_free_port(), tmp_path / "mosquitto.log")
    try:
        yield broker
    finally:
        broker.stop()


def _events(engine) -> list[tuple[Decision, str | None, int | None]]:
    with session_scope(engine) as session:
        events, _ = query_events(session, where=EventFilter(door=DOOR), limit=100)
    return [(e.decision, e.reason, e.person_id) for e in reversed(events)]


@contextmanager
def _auditor_api(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> Iterator[Callable[..., Any]]:
    """GET on the real API over the gate's database, as an auditor reads it."""
    services = make_services(engine, keyring, recognizer)
    auditor = {"Authorization": f"Bearer {make_tokens(engine)[Role.auditor]}"}
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        wait_for_gallery(services)
        yield lambda path, **params: client.get(path, params=params, headers=auditor)


def test_a_broker_away_at_start_and_mid_run_denies_grants_as_door_error_and_the_gate_opens_once_it_is_back(
    tmp_path, engine, keyring, recognizer, group_faces, enroll_person, register_door, broker, caplog
):
    register_door(DOOR, engine=engine)
    alice = enroll_person("Alice", group_faces[0])
    carol = enroll_person("Carol", group_faces[5])
    video = _video(tmp_path / "door.avi", recognizer, [group_faces[i] for i in (0, 5, 0, 5, 0)])
    runtime = GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"), engine=engine, keyring=keyring, recognizer=recognizer
    )
    settings = GateSettings(
        journal_dir=tmp_path / "journal",
        door={"kind": "mqtt", "host": HOST, "port": broker.port, "topic": TOPIC, "timeout_s": 2.0},
        decision={"cooldown_s": 0.0},  # the same two people come back
    )

    decisions, sent = [], []
    with caplog.at_level(logging.INFO, logger="gate"):
        for decision in gate_decisions(runtime, source=video, door=DOOR, settings=settings):
            decisions.append(decision)
            if len(decisions) == 2:  # the broker comes up after two grants with none listening
                broker.start()
            elif len(decisions) == 4:  # and goes away after two that it took
                sent = broker.messages(2)
                broker.stop()

    expected = [
        (Decision.denied, True, alice),
        (Decision.denied, True, carol),
        (Decision.granted, False, alice),
        (Decision.granted, False, carol),
        (Decision.denied, True, alice),
    ]
    assert [
        (d.verdict.decision, d.verdict.reason == "door_error", d.verdict.person_id) for d in decisions
    ] == (expected)
    assert [(m["door"], m["action"]) for m in sent] == [(DOOR, "unlock"), (DOOR, "unlock")]
    assert broker.received.empty()
    # Each unlock carries its grant's audit event_uid, by which a controller drops a second delivery (QoS 1);
    # an auditor reads it through the API: GET /events, the CSV export's last column, the event_uid filter.
    with _auditor_api(engine, keyring, recognizer) as get:
        listed = get("/events", door=DOOR).json()["items"][::-1]
        exported = list(csv.reader(io.StringIO(get("/events/export.csv", door=DOOR).text)))
        found = [get("/events", event_uid=m["unlock_id"]).json() for m in sent]
    uids = [event["event_uid"] for event in listed]
    assert [m["unlock_id"] for m in sent] == [e["event_uid"] for e in listed if e["decision"] == "granted"]
    assert all(isinstance(uid, str) for uid in uids) and len(set(uids)) == 5
    assert exported[0][-1] == "event_uid" and [row[-1] for row in exported[:0:-1]] == uids
    assert [(page["total"], [(e["decision"], e["person_id"]) for e in page["items"]]) for page in found] == [
        (1, [("granted", alice)]),
        (1, [("granted", carol)]),
    ]
    assert [(decision, reason == "door_error", person) for decision, reason, person in _events(engine)] == (
        expected
    )
    # The outage is logged by its first failure (with the cause), then by its end at the next unlock that
    # works; the second failed grant is counted, not logged again. The third begins a new outage.
    door_lines = [
        (r.levelname, r.getMessage(), r.exc_info is not None)
        for r in caplog.records
        if r.name == "gate.worker" and r.levelno >= logging.WARNING
    ]
    unreachable = f"MQTT broker {HOST}:{broker.port} unreachable"
    assert [(level, traced) for level, _, traced in door_lines] == [
        ("ERROR", True),
        ("WARNING", False),
        ("ERROR", True),
    ], door_lines
    first, ended, again = (message for _, message, _ in door_lines)
    assert first.startswith(f"door {DOOR} failed to unlock (ActuatorError: {unreachable}")
    assert first.endswith(
        "grants are door_error (not sent: denied) or door_unconfirmed (sent, not confirmed)"
        " until it unlocks again"
    )
    assert re.fullmatch(
        rf"door {DOOR} unlocks again after [0-9.]+ s \(2 grants were not confirmed open\)", ended
    )
    assert again.startswith(f"door {DOOR} failed to unlock (ActuatorError: {unreachable}")
