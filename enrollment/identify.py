"""Identify: every face in one image with its closest enrolled people (1:N search), as the gate would."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

from enrollment.errors import ThresholdUnavailable
from enrollment.gallery import GalleryService, SearchedGallery, stored_gallery
from recognition import DetectedFace, Match, OperatingThreshold, Recognizer, door_threshold
from storage import Cipher, Session, count_templates, device_admitted_person_ids


@dataclass(frozen=True)
class FaceIdentity:
    """One face in a probe image and the enrolled people it resembles, best first."""

    face: DetectedFace
    candidates: list[Match]
    person_id: int | None
    threshold: float


def identify(
    session: Session,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    image_data: bytes,
    fpir_target: float | None,
    top_k: int = 3,
    gallery: GalleryService | None = None,
    model_lock: AbstractContextManager[object] | None = None,
    device_key_id: str | None = None,
) -> tuple[list[FaceIdentity], OperatingThreshold]:
    """Every face in one image with its closest enrolled people (1:N search), and the threshold used.

    The threshold follows the gate's policy, through the same function (recognition.door_threshold):
    the one that holds a search of the current gallery at `fpir_target`, or the model's default when
    the target is None. Like the gate, the gallery's template count stands for its size.

    Searched in the process's shared `gallery` when given (during its reload, the last complete one less
    the people removed since: `GalleryService.searched`), else in a gallery loaded for this call.
    `model_lock`, when given, is held around detection and embedding only; they come before the gallery
    is read, so a request waiting for the lock holds no database connection.

    With `device_key_id` (a device key asks) only the people that key's gallery holds are searched: those
    some rule of one of its doors admits (everyone when one of its doors has no rules, nobody when it
    serves no door), as its edge gate searches them (storage.device_admitted_person_ids); the others are
    never candidates, so a face of theirs is unknown, and the threshold is set for those people's template
    count. The answer then tells nothing its sealed gallery does not.

    Raises:
        ImageError: the bytes are not a usable image.
        ThresholdUnavailable: a target is set but the model has no calibration.
        GalleryLoading: the shared `gallery` is being loaded in full, with no complete gallery to search
            meanwhile (see `GalleryService.searched`).
        UnknownKeyId, DecryptionError: a stored template cannot be decrypted.
    """
    image = recognizer.decode(image_data)
    with model_lock or nullcontext():
        observations = recognizer.observe(image)
    searched = (
        SearchedGallery(stored_gallery(session, keyring, recognizer))
        if gallery is None
        else gallery.searched(session)
    )
    gallery_size = len(searched)
    if device_key_id is not None:
        admitted = device_admitted_person_ids(session, device_key_id)
        searched = replace(searched, admitted_person_ids=admitted)
        if admitted is not None:
            gallery_size = count_templates(session, model_id=recognizer.model_id, person_ids=admitted)
    try:
        operating = door_threshold(
            recognizer.embedder.bundle.calibration,
            default_cos_threshold=recognizer.cos_threshold,
            fpir_target=fpir_target,
            gallery_size=gallery_size,
        )
    except ValueError as exc:
        raise ThresholdUnavailable(str(exc)) from exc
    results = []
    for observation in observations:
        candidates = searched.search(observation.embedding.vector, top_k)
        best = candidates[0] if candidates else None
        person_id = best.person_id if best and best.score >= operating.cos_threshold else None
        results.append(
            FaceIdentity(
                face=observation.face,
                candidates=candidates,
                person_id=person_id,
                threshold=operating.cos_threshold,
            )
        )
    return results, operating
