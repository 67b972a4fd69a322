"""Edge gates (device role only): register a public key, sync the sealed gallery, post audit events.

A device key serves the doors it was created for (`facegate apikeys create --role device --door D`).
Its gallery holds only the people some rule of those doors admits, sealed to the public key the device
registered: the templates leave this process encrypted to that one device (F5).
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ServicesDep, SessionDep, require_role
from api.schemas import ErrorPublic
from storage import (
    ApiKey,
    AuditEventCreate,
    Decision,
    DevicePublic,
    GalleryChangeFeed,
    Role,
    append_new_events,
    device_doors,
    device_sync,
    find_api_key,
    former_names_of,
    register_device,
)

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/devices", tags=["devices"])
DeviceOnlyKey = Annotated[ApiKey, Depends(require_role(Role.device))]
MAX_WAIT_S = 55.0
MAX_EVENTS = 500
_REFUSED: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "The device registered no key yet."},
    status.HTTP_409_CONFLICT: {"model": ErrorPublic, "description": "Another key is registered."},
}


class DeviceRegistration(BaseModel):
    """Body of POST /devices/register."""

    model_config = ConfigDict(extra="forbid")
    x25519_public_key: str = Field(
        min_length=40, max_length=60, description="The device's X25519 public key (32 bytes), base64."
    )


class GallerySyncRequest(BaseModel):
    """Body of POST /devices/gallery: what the device has, and how long it may wait for a change."""

    model_config = ConfigDict(extra="forbid")
    model_id: str = Field(min_length=1, max_length=100, description="The device's embedding model.")
    version: int | None = Field(None, ge=0, description="Gallery version the device holds; null: none.")
    epoch: str | None = Field(
        None,
        max_length=32,
        description="Epoch of the gallery the device holds (from its last sync; a restore makes a new one); "
        "null or absent: compare the version alone.",
    )
    template_ids: list[str] = Field(
        default_factory=list, max_length=1_000_000, description="Ids of the templates the device holds."
    )
    wait_s: float = Field(
        0.0, ge=0.0, le=MAX_WAIT_S, description="At `version` already: wait this long for a change (s)."
    )


class GallerySyncPublic(BaseModel):
    """The gallery version now and, when the device is behind, the change sealed to its public key."""

    version: int
    sealed_gallery: str | None = Field(
        description="Base64 of the change (templates to add and drop, the doors' rules) sealed to this "
        "device's X25519 key; null when the device is at `version`."
    )


class EventBatch(BaseModel):
    """Body of POST /devices/events: journalled events in order, each with its writer event id."""

    model_config = ConfigDict(extra="forbid")
    events: list[AuditEventCreate] = Field(max_length=MAX_EVENTS)


class EventBatchPublic(BaseModel):
    inserted: int = Field(ge=0, description="Events appended; the others were already in the log.")


@router.post("/register", responses=_REFUSED)
def register_route(body: DeviceRegistration, session: SessionDep, key: DeviceOnlyKey) -> DevicePublic:
    """Register this device's public key (once; the same key again is a no-op)."""
    try:
        public_key = base64.b64decode(body.x25519_public_key, validate=True)
    except binascii.Error as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "x25519_public_key is not base64") from exc
    return register_device(session, key_id=key.key_id, public_key=public_key, now=datetime.now(UTC))


@router.post("/gallery", responses=_REFUSED)
def gallery_route(
    body: GallerySyncRequest, session: SessionDep, key: DeviceOnlyKey, services: ServicesDep
) -> GallerySyncPublic:
    """The change since the device's version, sealed to it; at that version, waits up to `wait_s` first.

    The wait holds no database connection: the request's transaction ends before it. The key is checked
    again after it: one revoked or expired meanwhile gets 401 and no gallery.
    """
    session.commit()
    services.note_device_model(key.key_id, body.model_id)
    if body.version is not None and body.wait_s > 0:
        feed = services.gallery_feed or GalleryChangeFeed(services.engine, mode="poll", poll_s=1.0)
        feed.wait_for_change(body.version, timeout_s=body.wait_s, known_epoch=body.epoch)
        if find_api_key(session, key.key_id, now=services.clock()) is None:
            logger.info("device key %s revoked or expired while its gallery sync waited", key.key_id)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "API key revoked or expired while the request waited",
                headers={"WWW-Authenticate": "Bearer"},
            )
    answer = device_sync(
        session,
        services.keyring,
        key_id=key.key_id,
        model_id=body.model_id,
        known_version=body.version,
        known_template_ids=body.template_ids,
        known_epoch=body.epoch,
    )
    sealed = None if answer.sealed is None else base64.b64encode(answer.sealed).decode()
    return GallerySyncPublic(version=answer.version, sealed_gallery=sealed)


@router.post("/events")
def events_route(
    body: EventBatch, session: SessionDep, key: DeviceOnlyKey, services: ServicesDep
) -> EventBatchPublic:
    """Append the events, in order, that the log does not hold yet (by event id); only its doors' (by
    their names now or former names: a gate configured before a rename audits under the old one)."""
    served = device_doors(session, key.key_id)
    doors = set(served) | set(former_names_of(session, served))
    foreign = sorted({event.door for event in body.events} - doors)
    if foreign:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"doors not served by this device key: {foreign}")
    if any(event.event_uid is None for event in body.events):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "every event needs its event_uid")
    if any(event.decision is Decision.recorded for event in body.events):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a device posts access decisions only")
    return EventBatchPublic(inserted=append_new_events(session, services.keyring, body.events))
