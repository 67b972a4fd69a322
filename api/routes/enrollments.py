"""Enrollment: upload photos of a person → templates (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status

from api.deps import AdminKey, RowId, ServicesDep, SessionDep
from api.errors import GALLERY_UNAVAILABLE_RESPONSE, IDEMPOTENT_RESPONSES
from api.idempotency import IdempotencyDep
from api.schemas import EnrollmentPublic, ErrorPublic, UnprocessablePublic
from api.uploads import read_photo

router = APIRouter(tags=["enrollment"])


@router.post(
    "/people/{person_id}/faces",
    status_code=status.HTTP_201_CREATED,
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such person."},
        status.HTTP_413_CONTENT_TOO_LARGE: {
            "model": ErrorPublic,
            "description": "A photo is over the size limit.",
        },
        status.HTTP_422_UNPROCESSABLE_CONTENT: {
            "model": UnprocessablePublic,
            "description": (
                "Every unusable photo with its reason (a failing quality measure names its value and "
                "limit; a possible duplicate when duplicates are refused); nothing was stored."
            ),
        },
        **GALLERY_UNAVAILABLE_RESPONSE,
        **IDEMPOTENT_RESPONSES,
    },
)
def add_faces(
    person_id: RowId,
    photos: Annotated[list[UploadFile], File(description="One or more photos, each of this person alone.")],
    session: SessionDep,
    services: ServicesDep,
    _key: AdminKey,
    once: IdempotencyDep,
) -> EnrollmentPublic:
    """Add one template per photo, all or nothing: a single unusable photo stores nothing.

    Photos that match a different enrolled person are listed in `possible_duplicates`. Safe to retry with
    the same `Idempotency-Key` (after a 503 `commit_unconfirmed`, say): the templates are added once.
    """
    max_bytes = services.recognizer.limits.max_image_bytes
    read = [
        read_photo(upload, fallback_name=f"photos[{i}]", max_bytes=max_bytes)
        for i, upload in enumerate(photos)
    ]
    result = services.enroll(session, person_id=person_id, photos=read)
    cos_threshold = services.recognizer.cos_threshold
    answer = EnrollmentPublic.from_result(result, person_id=person_id, cos_threshold=cos_threshold)
    return once.remember(answer, person_id=person_id)
