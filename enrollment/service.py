"""Enroll and identify: the admin write path (images → recognition → encrypted storage)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from enrollment.errors import EnrollmentRejected, PhotoProblem
from enrollment.settings import EnrollmentSettings
from recognition import BgrImage, DetectedFace, ImageError, Match, Recognizer, vector_to_bytes
from storage import Cipher, Session, bump_gallery_version, get_person, iter_templates, store_template

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Photo:
    """An uploaded photo: its name (for error messages) and its raw bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class FaceIdentity:
    """One face in a probe image and the enrolled people it resembles, best first."""

    face: DetectedFace
    candidates: list[Match]
    person_id: int | None
    threshold: float


class _Problem(Exception):
    """Internal: why one photo is refused."""


def _single_usable_face(
    recognizer: Recognizer, photo: Photo, *, min_face_px: int
) -> tuple[BgrImage, DetectedFace]:
    """Decode and find the one usable face; raises ImageError or _Problem."""
    image = recognizer.decode(photo.data)
    faces = recognizer.detect(image)
    if not faces:
        raise _Problem("no face found")
    usable = [face for face in faces if min(face.width_px, face.height_px) >= min_face_px]
    if len(usable) > 1:
        raise _Problem(f"several faces ({len(usable)}); upload a photo of one person")
    if not usable:
        size = max(min(face.width_px, face.height_px) for face in faces)
        raise _Problem(f"face too small ({size} px, minimum {min_face_px} px)")
    return image, usable[0]


def enroll(
    session: Session,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    person_id: int,
    photos: list[Photo],
    settings: EnrollmentSettings,
) -> list[str]:
    """Add one template per photo to an existing person, all or nothing.

    Every photo is checked before anything is written; the caller's transaction commits.

    Returns:
        The new template ids.

    Raises:
        NotFound: the person does not exist.
        EnrollmentRejected: a photo is unreadable, has no face, several faces or a face too small,
            or there are no photos or too many.
    """
    get_person(session, person_id)
    if not photos:
        raise EnrollmentRejected([PhotoProblem(photo="(request)", reason="no photos were uploaded")])
    if len(photos) > settings.max_photos:
        reason = f"{len(photos)} photos, the limit is {settings.max_photos}"
        raise EnrollmentRejected([PhotoProblem(photo="(request)", reason=reason)])
    accepted: list[tuple[Photo, BgrImage, DetectedFace]] = []
    problems: list[PhotoProblem] = []
    for photo in photos:
        try:
            accepted.append(
                (photo, *_single_usable_face(recognizer, photo, min_face_px=settings.min_face_px))
            )
        except ImageError as exc:
            problems.append(PhotoProblem(photo=photo.name, reason=f"unreadable image: {exc}"))
        except _Problem as exc:
            problems.append(PhotoProblem(photo=photo.name, reason=str(exc)))
    if problems:
        raise EnrollmentRejected(problems)
    template_ids = []
    for photo, image, face in accepted:
        embedding = recognizer.embed(image, face)
        row = store_template(
            session,
            keyring,
            person_id=person_id,
            model_id=embedding.model_id,
            plaintext=vector_to_bytes(embedding.vector),
            source_name=photo.name,
        )
        template_ids.append(row.id)
    bump_gallery_version(session)
    logger.info("enrolled %d templates for person %d", len(template_ids), person_id)
    return template_ids


def identify(
    session: Session, keyring: Cipher, recognizer: Recognizer, *, image_data: bytes, top_k: int = 3
) -> list[FaceIdentity]:
    """Every face in one image with its closest enrolled people (1:N search).

    Raises:
        ImageError: the bytes are not a usable image.
        UnknownKeyId, DecryptionError: a stored template cannot be decrypted.
    """
    image = recognizer.decode(image_data)
    gallery = recognizer.new_gallery(
        (t.template_id, t.person_id, t.plaintext)
        for t in iter_templates(session, keyring, model_id=recognizer.model_id)
    )
    results = []
    for observation in recognizer.observe(image):
        candidates = gallery.search(observation.embedding.vector, top_k)
        best = candidates[0] if candidates else None
        person_id = best.person_id if best and best.score >= recognizer.cos_threshold else None
        results.append(
            FaceIdentity(
                face=observation.face,
                candidates=candidates,
                person_id=person_id,
                threshold=recognizer.cos_threshold,
            )
        )
    return results
