"""1:N identification of the faces in one photo (admin or device)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status

from api.deps import DeviceKey, ServicesDep, SessionDep, SettingsDep
from api.errors import GALLERY_UNAVAILABLE_RESPONSE
from api.schemas import ErrorPublic, IdentifyPublic, UnprocessablePublic
from api.uploads import read_photo
from enrollment import identify
from storage import Role

router = APIRouter(tags=["identify"])


@router.post(
    "/identify",
    responses={
        status.HTTP_413_CONTENT_TOO_LARGE: {
            "model": ErrorPublic,
            "description": "The photo is over the size limit.",
        },
        status.HTTP_422_UNPROCESSABLE_CONTENT: {
            "model": UnprocessablePublic,
            "description": "Not a usable image.",
        },
        **GALLERY_UNAVAILABLE_RESPONSE,
    },
)
def identify_faces(
    photo: Annotated[UploadFile, File(description="The probe photo; every face in it is identified.")],
    session: SessionDep,
    services: ServicesDep,
    settings: SettingsDep,
    key: DeviceKey,
) -> IdentifyPublic:
    """Every face in the photo with its closest enrolled people; `person_id` is null for an unknown face.

    The match threshold follows the gate's policy (FPIR target at the current gallery size, see
    FACEGATE_API_IDENTIFY_FPIR_TARGET); the answer says which threshold and why. An admin key searches
    every enrolled person; a device key only the people its doors admit (its edge gate's gallery), so
    anyone else is unknown to it.
    """
    recognizer = services.recognizer
    probe = read_photo(photo, fallback_name="photo", max_bytes=recognizer.limits.max_image_bytes)
    faces, threshold = identify(
        session,
        services.keyring,
        recognizer,
        image_data=probe.data,
        fpir_target=settings.identify_fpir_target,
        top_k=settings.identify_top_k,
        gallery=services.gallery,
        model_lock=services.recognizer_lock,
        device_key_id=None if key.role == Role.admin else key.key_id,
    )
    return IdentifyPublic.from_faces(faces, threshold=threshold, model_id=recognizer.model_id)
