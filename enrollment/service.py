"""Enroll: the admin write path (images → recognition → encrypted storage)."""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from enrollment.errors import EnrollmentRejected, PhotoProblem
from enrollment.gallery import GalleryService
from enrollment.quality import quality_problems
from enrollment.settings import EnrollmentSettings
from enrollment.similarity import PossibleDuplicate, possible_duplicates
from recognition import (
    BgrImage,
    DetectedFace,
    Embedding,
    FaceQuality,
    Gallery,
    ImageError,
    PresentationAttackDetector,
    Recognizer,
    judge_still,
    measure_face,
    vector_to_bytes,
)
from storage import (
    Cipher,
    Session,
    bump_gallery_version,
    create_person,
    get_person,
    hold_person,
    lock_gallery_version,
    store_template,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Photo:
    """An uploaded photo: its name (for error messages) and its raw bytes."""

    name: str
    data: bytes


def distinct_names(photos: list[Photo]) -> list[Photo]:
    """The photos, a name given to several of them made distinct by each one's place in the request.

    Phones name every upload image.jpg, and two folders can each hold a 1.jpg: the same name in a refusal
    or a possible duplicate could not say which photo was meant. Each becomes "image.jpg (photo 2)",
    numbered from 1 in the order given; a name given once is kept as it is.
    """
    counts = Counter(photo.name for photo in photos)
    return [
        photo if counts[photo.name] == 1 else replace(photo, name=f"{photo.name} (photo {place})")
        for place, photo in enumerate(photos, start=1)
    ]


@dataclass(frozen=True)
class EnrollmentResult:
    """What an enrollment stored, and the faces that already match someone else."""

    template_ids: list[str]
    possible_duplicates: list[PossibleDuplicate] = field(default_factory=list)
    """Photos matching a DIFFERENT enrolled person at or above the model threshold (a warning)."""


class _Problem(Exception):
    """Internal: why one photo is refused."""


def _single_usable_face(
    recognizer: Recognizer, photo: Photo, *, settings: EnrollmentSettings
) -> tuple[BgrImage, DetectedFace, FaceQuality]:
    """Decode, find the one usable face and check its quality; raises ImageError or _Problem."""
    image = recognizer.decode(photo.data)
    faces = recognizer.detect(image)
    if not faces:
        raise _Problem("no face found")
    usable = [face for face in faces if min(face.width_px, face.height_px) >= settings.min_face_px]
    if len(usable) > 1:
        raise _Problem(f"several faces ({len(usable)}); upload a photo of one person")
    if not usable:
        size = max(min(face.width_px, face.height_px) for face in faces)
        raise _Problem(f"face too small ({size} px, minimum {settings.min_face_px} px)")
    quality = measure_face(image, usable[0])
    problems = quality_problems(quality, settings)
    if problems:
        raise _Problem("; ".join(problems))
    return image, usable[0], quality


def _refuse_attack(
    pad: PresentationAttackDetector, image: BgrImage, face: DetectedFace, settings: EnrollmentSettings
) -> None:
    """Raise _Problem when the PAD stage calls the face a presentation attack (a headshot whose face fills
    the photo is judged by the card's face-fill calibration of the photo's colour, grey or colour, when it
    has one, or refused if not allowed; any other grey photo by the card's grey calibration when it has
    one, else, like every colour photo, by its colour calibration)."""
    if not settings.allow_pad_face_filling and pad.is_face_filling_frame(image, face):
        raise _Problem(
            "the face fills the photo, too tight for the presentation-attack check; upload one with "
            "background around the face"
        )
    verdict = judge_still(
        pad.score(image, face),
        pad.calibration,
        pad.face_fill_calibrations,
        bpcer_target=settings.pad_bpcer_target,
        grey_calibration=pad.grey_calibration,
    )
    if verdict.is_attack:
        raise _Problem(
            f"presentation attack suspected (a photo, screen or print?): attack score "
            f"{verdict.attack_score:.3f} > {verdict.threshold:.3f} ({pad.model_id}, {verdict.basis})"
        )


def _checked_faces(
    recognizer: Recognizer,
    photos: list[Photo],
    settings: EnrollmentSettings,
    pad: PresentationAttackDetector | None = None,
) -> list[tuple[Photo, BgrImage, DetectedFace, FaceQuality]]:
    """Every photo's usable face and its quality; raises EnrollmentRejected naming each unusable photo."""
    if not photos:
        raise EnrollmentRejected([PhotoProblem(photo="(request)", reason="no photos were uploaded")])
    if len(photos) > settings.max_photos:
        reason = f"{len(photos)} photos, the limit is {settings.max_photos}"
        raise EnrollmentRejected([PhotoProblem(photo="(request)", reason=reason)])
    accepted: list[tuple[Photo, BgrImage, DetectedFace, FaceQuality]] = []
    problems: list[PhotoProblem] = []
    for photo in photos:
        try:
            image, face, quality = _single_usable_face(recognizer, photo, settings=settings)
            if pad is not None:
                _refuse_attack(pad, image, face, settings)
            accepted.append((photo, image, face, quality))
        except ImageError as exc:
            problems.append(PhotoProblem(photo=photo.name, reason=f"unreadable image: {exc}"))
        except _Problem as exc:
            problems.append(PhotoProblem(photo=photo.name, reason=str(exc)))
    if problems:
        raise EnrollmentRejected(problems)
    return accepted


def _checked_duplicates(
    searched: Gallery,
    recognizer: Recognizer,
    *,
    person_id: int,
    is_new_person: bool,
    embedded: list[tuple[str, Embedding]],
    settings: EnrollmentSettings,
) -> list[PossibleDuplicate]:
    """Possible duplicates of the new faces; raises EnrollmentRejected if settings refuse them.

    Logged with ids only (E5): a new person refused is rolled back with the caller's transaction, so
    the line names the people matched and not the id the new person had until then. A refusal is a
    warning, the only trace a server keeps of it (marked `is_raised_to_caller`: the CLI prints the
    refusal it raises, and leaves this line out); an allowed duplicate is at info, as the caller reports
    it (the CLI's warning line, the API's `possible_duplicates`) and `people confusable` lists the pair.
    """
    duplicates = possible_duplicates(searched, recognizer, person_id=person_id, embeddings=embedded)
    if not duplicates:
        return duplicates
    matched = sorted({duplicate.person_id for duplicate in duplicates})
    if settings.allow_duplicates:  # the caller reports it: not a warning line beside its own
        logger.info("enrollment for person %d matches other people %s (stored)", person_id, matched)
        return duplicates
    raised = {"is_raised_to_caller": True}
    if is_new_person:
        logger.warning(
            "enrollment of a new person refused: its photos match enrolled people %s", matched, extra=raised
        )
    else:
        logger.warning(
            "enrollment for person %d refused: its photos match other people %s",
            person_id,
            matched,
            extra=raised,
        )
    threshold = recognizer.cos_threshold
    raise EnrollmentRejected(
        [
            PhotoProblem(
                photo=duplicate.photo,
                reason=(
                    f"possible duplicate: matches person {duplicate.person_id} "
                    f"(score {duplicate.score:.3f}, threshold {threshold:.3f})"
                ),
            )
            for duplicate in duplicates
        ]
    )


def _store_all(
    session: Session,
    keyring: Cipher,
    *,
    person_id: int,
    embedded: list[tuple[str, Embedding]],
    qualities: list[FaceQuality],
    searched: Gallery,
) -> list[str]:
    """Encrypt and store every template with its photo's quality and its look-alike neighbours in
    `searched` (so gates need not search them), bump the gallery version; the ids."""
    vectors = np.stack([embedding.vector for _, embedding in embedded])
    neighbours = searched.neighbour_records([person_id] * len(embedded), vectors)
    template_ids = [
        store_template(
            session,
            keyring,
            person_id=person_id,
            model_id=embedding.model_id,
            plaintext=vector_to_bytes(embedding.vector),
            source_name=name,
            quality=asdict(quality),
            lookalikes=lookalikes,
        ).id
        for (name, embedding), quality, lookalikes in zip(embedded, qualities, neighbours, strict=True)
    ]
    bump_gallery_version(session)
    return template_ids


def _embedded(
    recognizer: Recognizer,
    photos: list[Photo],
    *,
    settings: EnrollmentSettings,
    pad: PresentationAttackDetector | None,
    model_lock: AbstractContextManager[object] | None,
) -> tuple[list[tuple[str, Embedding]], list[FaceQuality]]:
    """Each photo's name and embedding, and its face's quality; the models' work only, under
    `model_lock` (no database). Raises EnrollmentRejected naming each unusable photo (`distinct_names`)."""
    with model_lock or nullcontext():
        accepted = _checked_faces(recognizer, distinct_names(photos), settings, pad)
        embedded = [(photo.name, recognizer.embed(image, face)) for photo, image, face, _ in accepted]
    return embedded, [quality for *_, quality in accepted]


def _loaded_gallery(
    session: Session, keyring: Cipher, recognizer: Recognizer, gallery: GalleryService | None
) -> GalleryService:
    """The gallery to search, brought up to the stored version before the enrollment's first write or lock:
    the shared `gallery`, or without one (a CLI command) a gallery of this enrollment's own.

    A full load (the shared gallery's first use since the server started, every load of an own one: a
    minute for a million templates) then runs here, not while the gallery version row (SQLite: the
    database's write lock) is held, which would keep every other enrollment, deletion and access change
    (on SQLite every writer, a gate's audit events too) waiting until their lock or busy timeout ended
    them; under it, `_stored` applies only what was committed since. Raises what GalleryService.current
    does.
    """
    loaded = GalleryService(keyring, recognizer) if gallery is None else gallery
    loaded.current(session)
    return loaded


def _stored(
    session: Session,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    person_id: int,
    embedded: list[tuple[str, Embedding]],
    is_new_person: bool,
    qualities: list[FaceQuality],
    settings: EnrollmentSettings,
    gallery: GalleryService,
) -> EnrollmentResult:
    """The database half of `enroll`, from the gallery version lock on (see there); `is_new_person`:
    the person was created in this transaction (a refusal rolls it back); `gallery`: loaded already
    (`_loaded_gallery`)."""
    lock_gallery_version(session)  # one enrollment at a time from here: each sees the one before
    hold_person(session, person_id)  # not deleted while the photos were checked, nor until the commit
    # A shared gallery changes only when the stored version does, which no one can change while this
    # transaction holds its row: the searches below need no lock of ours.
    searched = gallery.current(session)
    duplicates = _checked_duplicates(
        searched,
        recognizer,
        person_id=person_id,
        is_new_person=is_new_person,
        embedded=embedded,
        settings=settings,
    )
    template_ids = _store_all(
        session, keyring, person_id=person_id, embedded=embedded, qualities=qualities, searched=searched
    )
    logger.info("enrolled %d templates for person %d", len(template_ids), person_id)
    return EnrollmentResult(template_ids=template_ids, possible_duplicates=duplicates)


def enroll(
    session: Session,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    person_id: int,
    photos: list[Photo],
    settings: EnrollmentSettings,
    pad: PresentationAttackDetector | None = None,
    gallery: GalleryService | None = None,
    model_lock: AbstractContextManager[object] | None = None,
) -> EnrollmentResult:
    """Add one template per photo to an existing person, all or nothing.

    Every photo is checked (one face, its size, detector score, exposure, sharpness, pose) and compared
    with the other enrolled people (in the shared `gallery` when given, else in a gallery of its own,
    loaded in full first) before anything is written; the caller's transaction commits. From the
    gallery's last catch-up on, enrollments take turns (the gallery version row is held until the
    caller's transaction ends), so each template's stored look-alikes include every template committed
    before it; a deletion of the person takes its turn the same way, before or after. A full load of
    the gallery runs before that turn, so it keeps no one else waiting.

    `model_lock`, when given, is held around the work on the models only (decode, detect, quality, PAD
    check, embed), never while the database may keep the enrollment waiting: a process sharing one
    Recognizer between threads passes its lock, and its other requests go on meanwhile. The models come
    first, before the person is read, so a request queued for the lock holds no database connection.

    Returns:
        The new template ids, and the photos matching a different enrolled person at or above the
        model's threshold (possible duplicates, stored unless `settings.allow_duplicates` is false).

    Raises:
        NotFound: the person does not exist (raised before any photo's problem), or was deleted while
            the photos were checked.
        EnrollmentRejected: a photo is unreadable, has no face, several faces, a face failing a quality
            check, a face `pad` calls a presentation attack, or is a refused duplicate; there are no
            photos or too many.
        ModelLoadError: the PAD calibration has no point at `settings.pad_bpcer_target`.
        GalleryLoading: another request is loading the shared `gallery` in full; nothing was written.
        UnknownKeyId, DecryptionError: a stored template cannot be decrypted.
    """
    try:
        embedded, qualities = _embedded(recognizer, photos, settings=settings, pad=pad, model_lock=model_lock)
    except EnrollmentRejected:
        get_person(session, person_id)  # an unknown person is said before the photos' problems
        raise
    loaded = _loaded_gallery(session, keyring, recognizer, gallery)
    return _stored(
        session,
        keyring,
        recognizer,
        person_id=person_id,
        is_new_person=False,
        embedded=embedded,
        qualities=qualities,
        settings=settings,
        gallery=loaded,
    )


def enroll_new_person(
    session: Session,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    name: str,
    photos: list[Photo],
    settings: EnrollmentSettings,
    pad: PresentationAttackDetector | None = None,
    gallery: GalleryService | None = None,
    model_lock: AbstractContextManager[object] | None = None,
) -> tuple[int, EnrollmentResult]:
    """Create a person and enroll their photos in the caller's transaction; returns (person id, result).

    The photos are checked before the person is created: on SQLite that first write takes the
    database's one write lock, which every other writer (a gate's audit events) would otherwise wait
    on while the models work. `model_lock` as `enroll`.

    Raises:
        EnrollmentRejected: as `enroll`: an unusable photo before anything is written, a refused
            duplicate after the person is created (the caller's rollback removes them).
    """
    embedded, qualities = _embedded(recognizer, photos, settings=settings, pad=pad, model_lock=model_lock)
    loaded = _loaded_gallery(session, keyring, recognizer, gallery)
    person = create_person(session, name=name)
    assert person.id is not None, "the session flushes a new person to give it an id"
    result = _stored(
        session,
        keyring,
        recognizer,
        person_id=person.id,
        is_new_person=True,
        embedded=embedded,
        qualities=qualities,
        settings=settings,
        gallery=loaded,
    )
    return person.id, result
