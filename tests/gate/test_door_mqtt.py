"""MqttDoor against the real Mosquitto on 127.0.0.1:1883 with a real paho subscriber, and dead brokers."""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gate import ActuatorError, DoorUnconfirmed, MqttDoor
from tests.gate.pg_proxy import TcpProxy

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 1883
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UNLOCK_ID = "0b5c1f6e-8a3d-4c2b-9f1e-2d7a6c4b3e10"
UNANSWERED_HOST = "broker.door.test"
RESOLVER_HANG_S = 20.0  # a hang bound, not a speed claim: the unlock must give up long before


def _door(
    *,
    topic: str = "facegate/test",
    host: str = BROKER_HOST,
    port: int = BROKER_PORT,
    timeout_s: float = 2.0,
) -> MqttDoor:
    return MqttDoor(
        host=host,
        port=port,
        topic=topic,
        timeout_s=timeout_s,
        username=None,
        password=None,
        utc_now=lambda: AT,
        monotonic=time.monotonic,
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind((BROKER_HOST, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def broker() -> None:
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=1.0):
            pass
    except OSError:
        pytest.skip(f"no MQTT broker (Mosquitto) listening on {BROKER_HOST}:{BROKER_PORT}")


@pytest.fixture
def subscription(broker: None) -> Iterator[tuple[str, queue.Queue[mqtt.MQTTMessage]]]:
    """A real paho subscriber on a fresh topic; yields the topic and the messages it receives."""
    topic = f"facegate-test/{uuid.uuid4().hex}/door"
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_message = lambda _c, _u, message: received.put(message)
    client.connect(BROKER_HOST, BROKER_PORT)
    client.loop_start()
    try:
        assert subscribed.wait(5.0), "the test subscriber got no SUBACK"
        yield topic, received
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.integration
def test_the_subscriber_receives_the_exact_unlock_payload_at_qos_1(subscription) -> None:
    topic, received = subscription
    _door(topic=topic).unlock(door="front", duration_s=4.0, unlock_id=UNLOCK_ID)

    message = received.get(timeout=5.0)
    assert message.topic == topic
    assert message.qos == 1
    assert json.loads(message.payload) == {
        "door": "front",
        "action": "unlock",
        "duration_s": 4.0,
        "at": "2026-01-02T03:04:05+00:00",
        "unlock_id": UNLOCK_ID,
    }
    assert received.empty()


@pytest.mark.integration
def test_each_unlock_is_one_message(subscription) -> None:
    topic, received = subscription
    door = _door(topic=topic)
    door.unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    door.unlock(door="back", duration_s=2.0, unlock_id=UNLOCK_ID)

    payloads = [json.loads(received.get(timeout=5.0).payload) for _ in range(2)]
    assert [(p["door"], p["duration_s"]) for p in payloads] == [("front", 1.0), ("back", 2.0)]


@pytest.mark.integration
def test_a_lost_puback_is_door_unconfirmed_for_the_broker_passed_the_unlock_on(subscription) -> None:
    """The real Mosquitto got the PUBLISH and passed it to the door's subscriber; its PUBACK was lost on the
    way back. That was the same ActuatorError as a broker never reached, audited as a certain denial
    (door_error) although the door opened."""
    topic, received = subscription
    proxy = TcpProxy(BROKER_HOST, BROKER_PORT)
    proxy.keep_only_first_replies(1)  # the CONNACK
    try:
        with pytest.raises(DoorUnconfirmed, match=re.escape("sent no PUBACK within 1.0 s")):
            _door(topic=topic, port=proxy.port, timeout_s=1.0).unlock(
                door="front", duration_s=1.0, unlock_id=UNLOCK_ID
            )
    finally:
        proxy.close()
    assert json.loads(received.get(timeout=5.0).payload)["door"] == "front"
    assert proxy.swallowed == 1


def test_a_closed_port_fails_quickly_with_an_actuator_error() -> None:
    port = _closed_port()
    started_s = time.monotonic()
    with pytest.raises(ActuatorError, match=f"MQTT broker {BROKER_HOST}:{port} unreachable") as failure:
        _door(port=port).unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    assert time.monotonic() - started_s < 1.0
    assert type(failure.value) is ActuatorError  # nothing was published: not DoorUnconfirmed


def test_a_broker_that_never_answers_times_out_with_an_actuator_error() -> None:
    with socket.socket() as silent:
        silent.bind((BROKER_HOST, 0))
        silent.listen()
        port = silent.getsockname()[1]
        started_s = time.monotonic()
        with pytest.raises(ActuatorError, match="sent no CONNACK within 0.3 s") as failure:
            _door(port=port, timeout_s=0.3).unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    assert 0.3 <= time.monotonic() - started_s < 2.0
    assert type(failure.value) is ActuatorError  # no CONNACK, so no PUBLISH: not DoorUnconfirmed


def _slow_broker(listener: socket.socket, *, delay_s: float) -> None:
    """Answers a CONNECT with a CONNACK and its QoS 1 PUBLISH with a PUBACK, each `delay_s` late."""
    with listener, listener.accept()[0] as connection:
        try:
            connection.recv(65536)  # CONNECT (the client sends nothing else before its CONNACK)
            time.sleep(delay_s)
            connection.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
            publish = connection.recv(65536)
            length_bytes = 1 + next(i for i, byte in enumerate(publish[1:5]) if byte < 0x80)
            topic_end = 1 + length_bytes + 2 + int.from_bytes(publish[1 + length_bytes : 3 + length_bytes])
            time.sleep(delay_s)
            connection.sendall(b"\x40\x02" + publish[topic_end : topic_end + 2])  # PUBACK of its packet id
            connection.recv(65536)  # DISCONNECT, or the close
        except OSError:  # the client gave up and closed
            return


def test_a_broker_slow_at_each_step_is_given_up_after_the_timeout_in_all() -> None:
    """CONNACK and PUBACK each came within timeout_s but both together after it: each step had its own
    timeout_s, so an unlock could hold the gate loop three times timeout_s (the setting says 'longest wait for
    the door to confirm'). The whole unlock now has timeout_s."""
    listener = socket.create_server((BROKER_HOST, 0))
    server = threading.Thread(target=_slow_broker, args=(listener,), kwargs={"delay_s": 0.7}, daemon=True)
    server.start()
    with pytest.raises(DoorUnconfirmed, match=re.escape("sent no PUBACK within 1.0 s")):
        _door(port=listener.getsockname()[1], timeout_s=1.0).unlock(
            door="front", duration_s=1.0, unlock_id=UNLOCK_ID
        )
    server.join(timeout=10.0)


def test_a_host_name_the_resolver_does_not_answer_for_is_given_up_within_the_timeout(monkeypatch) -> None:
    """paho resolves the broker's host before its connect timeout starts, so a name server that does not
    answer held the gate loop for the resolver's own timeouts (reproduced under `unshare -m` with a
    resolv.conf naming a UDP server that swallows queries: unlock() returned after 10.01 s with timeout_s
    1.0). The OS resolver is the boundary faked here: it hangs on one name until the test lets it go."""
    released, expired = threading.Event(), threading.Event()
    resolve = socket.getaddrinfo

    def unanswered(host: object, *args: Any, **kwargs: Any) -> Any:
        if host != UNANSWERED_HOST:
            return resolve(host, *args, **kwargs)
        if not released.wait(RESOLVER_HANG_S):
            expired.set()
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", unanswered)
    door = _door(host=UNANSWERED_HOST, timeout_s=0.5)
    try:
        with pytest.raises(
            ActuatorError, match=re.escape("host name was not resolved within 0.5 s")
        ) as failure:
            door.unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
        assert not expired.is_set()  # given up while the resolver still had not answered
    finally:
        released.set()
    assert type(failure.value) is ActuatorError  # nothing was sent: not DoorUnconfirmed
