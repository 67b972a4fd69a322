"""Faces that sit too close to other people: possible duplicates at enrollment, confusable pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from enrollment.gallery import stored_gallery
from recognition import Embedding, Gallery, LoadProgress, Recognizer
from storage import Cipher, Session

_DUPLICATE_CANDIDATES = 3


@dataclass(frozen=True)
class PossibleDuplicate:
    """A photo whose face already matches a different enrolled person at or above the threshold."""

    photo: str
    person_id: int
    score: float
    """Best cosine similarity between the photo and that person's templates (-1..1)."""


@dataclass(frozen=True)
class ConfusablePair:
    """Two enrolled people whose closest templates score `score` (cosine, -1..1); person_a < person_b."""

    person_a: int
    person_b: int
    score: float


def possible_duplicates(
    searched: Gallery,
    recognizer: Recognizer,
    *,
    person_id: int,
    embeddings: Sequence[tuple[str, Embedding]],
) -> list[PossibleDuplicate]:
    """Other people in `searched` each (photo name, embedding) matches at or above the model's threshold.

    `person_id`'s own templates never count.

    Returns:
        Matches, in photo order, best first within a photo.
    """
    found = []
    for photo, embedding in embeddings:
        for match in searched.search(embedding.vector, _DUPLICATE_CANDIDATES + 1):
            if match.person_id != person_id and match.score >= recognizer.cos_threshold:
                found.append(PossibleDuplicate(photo=photo, person_id=match.person_id, score=match.score))
    return found


def confusable_pairs(
    session: Session,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    min_score: float,
    progress: LoadProgress | None = None,
) -> list[ConfusablePair]:
    """Pairs of enrolled people whose closest templates score at or above `min_score`.

    Each template is compared with its nearest templates through the gallery's index (the look-alike
    search the gate uses), not with every other template. Only the recognizer's model counts (D4).
    `progress` is told how the gallery's load goes (decrypting, then searching look-alikes).

    Returns:
        Pairs, highest score first.

    Raises:
        UnknownKeyId, DecryptionError: a stored template cannot be decrypted.
    """
    gallery = stored_gallery(session, keyring, recognizer, lookalike_min_cos=min_score, progress=progress)
    pairs = [
        ConfusablePair(person_a=a, person_b=b, score=score)
        for (a, b), score in gallery.confusable_pairs(min_score).items()
    ]
    return sorted(pairs, key=lambda pair: (-pair.score, pair.person_a, pair.person_b))
