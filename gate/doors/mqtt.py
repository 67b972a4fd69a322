"""A door opened by an MQTT message (paho-mqtt 2.x), published at QoS 1 and acknowledged by the broker."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr

from gate.door import unlock_message
from gate.errors import ActuatorError, DoorUnconfirmed

logger = logging.getLogger(__name__)

_POLL_S = 0.05
_KEEPALIVE_S = 60


class MqttDoor:
    """Publishes `{"door", "action": "unlock", "duration_s", "at", "unlock_id"}` as JSON to a topic at QoS 1.

    QoS 1 is at least once: the broker may deliver the message to the door's controller twice (a
    controller that reconnects before its PUBACK reaches the broker), so the controller should drop an
    `unlock_id` it has acted on.

    Every unlock opens its own clean session, so an unlock that was not acknowledged in time is
    dropped with the session instead of being delivered late by a reconnect. Once the PUBLISH is handed
    to the connection, the broker may have it (and pass it on) though its PUBACK never comes: a failure
    from then on is DoorUnconfirmed, not a certain "the door stayed shut".
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        topic: str,
        timeout_s: float,
        username: str | None,
        password: SecretStr | None,
        utc_now: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._host = host
        self._port = port
        self._topic = topic
        self._timeout_s = timeout_s
        self._username = username
        self._password = password
        self._utc_now = utc_now
        self._monotonic = monotonic

    def _client(self, connack: list[ReasonCode]) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, clean_session=True)
        if self._username is not None:
            password = None if self._password is None else self._password.get_secret_value()
            client.username_pw_set(self._username, password)

        def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason_code: ReasonCode, _p: Any) -> None:
            connack.append(reason_code)

        client.on_connect = on_connect
        return client

    def _pump(
        self,
        client: mqtt.Client,
        done: Callable[[], bool],
        *,
        deadline_s: float,
        awaited: str,
        error: type[ActuatorError] = ActuatorError,
    ) -> None:
        """Run the client's network loop in this thread until `done()` or the deadline, else raise `error`."""
        while not done():
            if self._monotonic() >= deadline_s:
                raise error(
                    f"MQTT broker {self._host}:{self._port} sent no {awaited} within {self._timeout_s} s"
                )
            rc = client.loop(timeout=_POLL_S)
            if rc is not MQTTErrorCode.MQTT_ERR_SUCCESS and not done():
                raise error(
                    f"MQTT broker {self._host}:{self._port} dropped the connection before its {awaited}: "
                    f"{mqtt.error_string(rc)}"
                )

    def _publish(
        self, client: mqtt.Client, payload: bytes, connack: list[ReasonCode], *, deadline_s: float
    ) -> None:
        self._pump(client, lambda: bool(connack), deadline_s=deadline_s, awaited="CONNACK")
        if connack[0].is_failure:
            raise ActuatorError(f"MQTT broker {self._host}:{self._port} refused the connection: {connack[0]}")
        info = client.publish(self._topic, payload, qos=1)
        if info.rc is not MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ActuatorError(f"MQTT publish to {self._topic} failed: {mqtt.error_string(info.rc)}")
        # From here the PUBLISH may be on its way: the broker can have it though no PUBACK comes back.
        self._pump(client, info.is_published, deadline_s=deadline_s, awaited="PUBACK", error=DoorUnconfirmed)

    def _addresses(self, *, deadline_s: float) -> list[str]:
        """The broker host's addresses, resolved by the time of `deadline_s`, else ActuatorError.

        The lookup runs on a thread of its own: paho resolves the host before its connect timeout starts,
        so a resolver that does not answer (a name server away: 5 s × 2 tries by default) held the gate
        loop for as long. A lookup given up on ends at the resolver's own timeout.
        """
        found: queue.SimpleQueue[list[str] | Exception] = queue.SimpleQueue()
        thread = threading.Thread(
            target=self._resolve, args=(found,), name=f"mqtt-resolve-{self._host}", daemon=True
        )
        thread.start()
        try:
            result = found.get(timeout=max(0.0, deadline_s - self._monotonic()))
        except queue.Empty:
            raise ActuatorError(
                f"MQTT broker {self._host}:{self._port} unreachable: its host name was not resolved "
                f"within {self._timeout_s} s"
            ) from None
        if isinstance(result, Exception):
            raise ActuatorError(f"MQTT broker {self._host}:{self._port} unreachable: {result!r}") from result
        return result

    def _resolve(self, found: queue.SimpleQueue[list[str] | Exception]) -> None:
        try:
            infos = socket.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:  # socket.gaierror; UnicodeError: a name IDNA refuses
            found.put(exc)
            return
        found.put(list(dict.fromkeys(str(info[4][0]) for info in infos)))

    def _connected(self, connack: list[ReasonCode], *, deadline_s: float) -> mqtt.Client:
        """A client connected to the first of the host's addresses that accepts, all by `deadline_s` (a
        client of its own per address: paho keeps a failed connect's state)."""
        failure: Exception | None = None
        for address in self._addresses(deadline_s=deadline_s):
            left_s = deadline_s - self._monotonic()
            if left_s <= 0.0:
                break
            client = self._client(connack)
            client.connect_timeout = left_s
            try:
                client.connect(address, self._port, keepalive=_KEEPALIVE_S)
            except (OSError, ValueError) as exc:
                failure = exc
                continue
            return client
        cause = repr(failure) if failure else f"no address connected within {self._timeout_s} s"
        raise ActuatorError(f"MQTT broker {self._host}:{self._port} unreachable: {cause}") from failure

    def unlock(self, *, door: str, duration_s: float, unlock_id: str) -> None:
        """Resolve the broker's host, connect, publish at QoS 1 and wait for the broker's PUBACK, all within
        `timeout_s`.

        Raises:
            DoorUnconfirmed: the PUBLISH was sent but the broker did not acknowledge it within `timeout_s`
                (or dropped the connection before): the door may have opened.
            ActuatorError: the broker is unreachable or refused the connection: nothing was published.
        """
        payload = unlock_message(door=door, duration_s=duration_s, at=self._utc_now(), unlock_id=unlock_id)
        connack: list[ReasonCode] = []
        deadline_s = self._monotonic() + self._timeout_s
        client = self._connected(connack, deadline_s=deadline_s)
        try:
            self._publish(client, payload, connack, deadline_s=deadline_s)
        finally:
            client.disconnect()
        logger.info("door %s unlocked for %.1f s by MQTT topic %s", door, duration_s, self._topic)

    def close(self) -> None:
        """Nothing to release: every unlock opens and closes its own connection."""
