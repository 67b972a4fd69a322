"""Edge devices: a device key's doors, its registered public key, and its gallery sealed to that key.

A device key serves the doors bound to it. Its gallery holds the templates of the people some rule
of one of those doors admits (a door without rules admits everyone), and every sync answer is sealed
to the device's X25519 key (storage/device_seal.py): the plaintext templates exist only inside the
API process that reads them and on the device.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.access import AccessWindow, door_access_windows
from storage.device_models import Device, DeviceDoor, DevicePublic
from storage.device_seal import DEVICE_KEY_BYTES, open_sealed, seal_to_device
from storage.doors import ensure_door, former_names_of, refuse_unknown_doors
from storage.errors import Conflict, InvalidDevice, NotFound
from storage.gallery_log import gallery_stamp, iter_templates
from storage.inserts import insert_if_absent
from storage.models import ApiKey, Door, Role
from storage.protocols import Cipher
from storage.timeutil import as_utc


def _device_key(session: Session, key_id: str) -> ApiKey:
    row = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    if row.role != Role.device:
        raise InvalidDevice(f"API key {key_id} has the role {row.role}, not device")
    return row


_CREATE_DOORS = (
    "bind with create_doors (the API) or --create-doors (facegate apikeys create), which registers it "
    "without rules, so that it admits every enrolled person"
)


def bind_device_doors(
    session: Session, *, key_id: str, doors: Collection[str], create_doors: bool = False
) -> list[str]:
    """Let the device key serve these doors too; returns all its doors, by their names now.

    A former name binds the door it names now. A name that no door has or had is refused unless
    `create_doors`: a new door has no rules, so it admits every enrolled person, and registering a
    misspelt name would open that door to everyone at the key's edge gate.

    Raises:
        NotFound: no such key. InvalidDevice: the key's role is not device.
        DoorNotFound: a name no door has or had, without `create_doors` (nothing is bound).
    """
    _device_key(session, key_id)
    if not create_doors:
        refuse_unknown_doors(session, doors, to_create=_CREATE_DOORS)
    bound = set(device_doors(session, key_id))
    for name in doors:
        door = ensure_door(session, name=name)
        if door.name not in bound:  # a door named twice, or by its name now and a former one, binds once
            assert door.id is not None
            session.add(DeviceDoor(key_id=key_id, door_id=door.id))
            bound.add(door.name)
    session.flush()
    return device_doors(session, key_id)


def device_doors(session: Session, key_id: str) -> list[str]:
    """The names of the doors a device key serves, sorted."""
    rows = session.exec(
        select(Door.name)
        .join(DeviceDoor, col(DeviceDoor.door_id) == col(Door.id))
        .where(DeviceDoor.key_id == key_id)
        .order_by(col(Door.name))
    )
    return list(rows.all())


def register_device(session: Session, *, key_id: str, public_key: bytes, now: datetime) -> DevicePublic:
    """Record the device's public key; registering the same key again is a no-op.

    Raises:
        InvalidDevice: not a device key, or not a 32-byte X25519 public key.
        Conflict: another public key is registered for this device key (issue a new device key).
    """
    _device_key(session, key_id)
    if len(public_key) != DEVICE_KEY_BYTES:
        raise InvalidDevice(f"a device public key has {DEVICE_KEY_BYTES} bytes, not {len(public_key)}")
    row = session.get(Device, key_id)
    if row is None:  # a device resending its registration may race its first one: one insert wins
        values = {"key_id": key_id, "public_key": public_key, "registered_at": as_utc(now)}
        insert_if_absent(session, Device, values, key=["key_id"])
        row = session.get(Device, key_id)
        assert row is not None, "inserted just now, or by a transaction that has committed it"
    if row.public_key != public_key:
        raise Conflict(f"device key {key_id} is registered with another public key")
    return DevicePublic(
        token_id=key_id, doors=device_doors(session, key_id), registered_at=as_utc(row.registered_at)
    )


def admitted_person_ids(windows_by_door: dict[str, list[AccessWindow]]) -> frozenset[int] | None:
    """People some rule of these doors admits (at any time); None when a door has no rules (everyone)."""
    admitted: set[int] = set()
    for windows in windows_by_door.values():
        if not windows:
            return None
        for window in windows:
            admitted |= window.person_ids
    return frozenset(admitted)


def _device_windows(session: Session, key_id: str) -> dict[str, list[AccessWindow]]:
    """Every rule of each door the device key serves, by door name."""
    return {door: door_access_windows(session, door=door) for door in device_doors(session, key_id)}


def _admitted_by(windows_by_door: dict[str, list[AccessWindow]]) -> frozenset[int] | None:
    """`admitted_person_ids` of a device key's doors: nobody when it serves no door."""
    return admitted_person_ids(windows_by_door) if windows_by_door else frozenset()


def device_admitted_person_ids(session: Session, key_id: str) -> frozenset[int] | None:
    """The people whose templates a device key's gallery holds (`device_sync`): those some rule of one of
    its doors admits; None when one of its doors has no rules (everyone); nobody when it serves no door
    (nor for a key of another role, which serves none)."""
    return _admitted_by(_device_windows(session, key_id))


@dataclass(frozen=True)
class DeviceSync:
    """A sync answer: the gallery version now, and the change since the device's state, sealed."""

    version: int
    sealed: bytes | None
    """None when the device is at `version` already."""


def sync_aad(*, key_id: str, version: int) -> bytes:
    """Associated data of a sealed sync answer: which device it is for, and at which gallery version."""
    return f"facegate/device-sync/v1|{key_id}|{version}".encode()


def window_to_json(window: AccessWindow) -> dict[str, object]:
    """An access rule as JSON-ready values (`window_from_json` reads it back)."""
    return {
        "rule_id": window.rule_id,
        "person_ids": sorted(window.person_ids),
        "iso_weekdays": sorted(window.iso_weekdays),
        "start_minute": window.start_minute,
        "end_minute": window.end_minute,
        "timezone": window.timezone,
    }


def device_sync(
    session: Session,
    keyring: Cipher,
    *,
    key_id: str,
    model_id: str,
    known_version: int | None,
    known_template_ids: Collection[str],
    known_epoch: str | None = None,
) -> DeviceSync:
    """What the device lacks and what it must drop, sealed to its registered public key.

    The answer holds the templates of admitted people the device does not have (`added`), the
    template ids it has that are no longer in its gallery (`removed`), every rule of its doors, and
    their former names (`former_names`: old → now), by which gates configured before a rename find them,
    and the gallery's `epoch`. A device at `known_version` is answered None, unless it names another epoch
    (a restore numbered another gallery so); one that names none (a release before epochs) is compared
    by its version alone, so it takes a restored gallery at its next change.

    Raises:
        NotFound: the device never registered a public key. InvalidDevice: not a device key.
    """
    _device_key(session, key_id)
    device = session.get(Device, key_id)
    if device is None:
        raise NotFound(f"device key {key_id} has no registered public key")
    version, epoch = gallery_stamp(session)
    if known_version == version and known_epoch in (None, epoch):
        return DeviceSync(version=version, sealed=None)
    windows = _device_windows(session, key_id)
    admitted = _admitted_by(windows)
    known = set(known_template_ids)
    current: set[str] = set()
    added = []
    for template in iter_templates(session, keyring, model_id=model_id):
        if admitted is not None and template.person_id not in admitted:
            continue
        current.add(template.template_id)
        if template.template_id not in known:
            data = base64.b64encode(template.plaintext).decode()
            added.append([template.template_id, template.person_id, data])
    payload = {
        "version": version,
        "epoch": epoch,
        "model_id": model_id,
        "added": added,
        "removed": sorted(known - current),
        "doors": {door: [window_to_json(w) for w in door_windows] for door, door_windows in windows.items()},
        "former_names": former_names_of(session, windows),
    }
    plaintext = json.dumps(payload, separators=(",", ":")).encode()
    return DeviceSync(
        version=version,
        sealed=seal_to_device(device.public_key, plaintext, sync_aad(key_id=key_id, version=version)),
    )


def open_device_sync(private_key: bytes, *, key_id: str, version: int, sealed: bytes) -> dict[str, Any]:
    """The payload of a sealed sync answer (the device's side of `device_sync`).

    Raises:
        DecryptionError: not sealed to this device, for this key id and version, or tampered.
    """
    plaintext = open_sealed(private_key, sealed, sync_aad(key_id=key_id, version=version))
    payload: dict[str, Any] = json.loads(plaintext)
    return payload


def window_from_json(data: dict[str, Any]) -> AccessWindow:
    """An access rule as `device_sync` serialised it."""
    return AccessWindow(
        rule_id=int(data["rule_id"]),
        person_ids=frozenset(int(p) for p in data["person_ids"]),
        iso_weekdays=frozenset(int(d) for d in data["iso_weekdays"]),
        start_minute=int(data["start_minute"]),
        end_minute=int(data["end_minute"]),
        timezone=str(data["timezone"]),
    )
