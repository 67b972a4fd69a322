"""No stored look-alike record names an erased person: forgotten at the erasure, refused after it."""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from itertools import groupby

from sqlalchemy import select as select_columns
from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.cipher import Sealed, open_all_with, unpack_sealed
from storage.errors import DecryptionError
from storage.gallery_log import _IN_CLAUSE_ROWS, row_aads
from storage.models import FaceTemplate, Person
from storage.person_keys import unwrap_person_keys
from storage.protocols import Cipher
from storage.statement_timeout import allow_long_statements

_NEIGHBOUR = struct.Struct("<qf")
"""One entry of a look-alike record as recognition writes it (`neighbours_to_bytes`): a little-endian
int64 person id, then a float32 cosine. Storage reads the ids only, to forget an erased person;
tests/storage/test_erased_lookalikes.py holds it to recognition's writer through real enrollments."""
_RECORD_BATCH = 16_384

logger = logging.getLogger(__name__)


def _named_people(record: bytes) -> set[int] | None:
    """The person ids an opened look-alike record names; None for a malformed one (whom it names is
    unknown, so it counts as naming anyone)."""
    if len(record) % _NEIGHBOUR.size:
        return None
    return {named for named, _ in _NEIGHBOUR.iter_unpack(record)}


def names_someone_gone(session: Session, records: Sequence[bytes]) -> list[bool]:
    """For each opened look-alike record, whether it names a person who no longer exists (or is
    malformed): one about to be stored that was made before that person's erasure committed."""
    named = [_named_people(record) for record in records]
    wanted = sorted(set().union(*(people for people in named if people)))
    present: set[int] = set()
    for start in range(0, len(wanted), _IN_CLAUSE_ROWS):
        chunk = wanted[start : start + _IN_CLAUSE_ROWS]
        found = session.exec(select(Person.id).where(col(Person.id).in_(chunk)))
        present |= {person_id for person_id in found if person_id is not None}
    return [people is None or not people <= present for people in named]


def forget_lookalikes_of(session: Session, cipher: Cipher, *, person_id: int) -> int:
    """Null every other person's look-alike record that names `person_id`, in the caller's transaction
    (the person's erasure); returns how many. Such a record holds the erased id and its cosine beside
    a survivor's template, sealed under the survivor's key, out of reach of the erased key's shredding.

    Null is what a template stored before migration 0011 has: a gallery's load searches its neighbours
    itself, and `backfill_lookalikes` may store a fresh record. A record with only the entry cut out
    would hide the neighbour that takes its place in that search. The records are sealed, so each is
    opened to be read: the owners' keys unwrapped in one query, one AES-GCM context per owner.

    A record that cannot be authenticated (tampered, moved) is nulled too, with a warning: whom it names
    is unknown, and one altered record of somebody else must not stop an erasure.

    Raises:
        UnknownKeyId, DecryptionError: a survivor's data key cannot be unwrapped (a missing master key).
    """
    allow_long_statements(session.connection())  # every record of a million templates is read
    others = (col(FaceTemplate.person_id) != person_id) & col(FaceTemplate.lookalikes).is_not(None)
    owners = select(FaceTemplate.person_id).where(others).distinct()
    data_keys = unwrap_person_keys(session, cipher, person_ids=owners)
    rows = session.connection().execute(
        select_columns(
            col(FaceTemplate.id),
            col(FaceTemplate.person_id),
            col(FaceTemplate.model_id),
            col(FaceTemplate.key_id),
            col(FaceTemplate.lookalikes),
        )
        .where(others)
        .order_by(col(FaceTemplate.person_id), col(FaceTemplate.id))
        .execution_options(yield_per=_RECORD_BATCH)
    )
    naming: list[str] = []
    for owner, group in groupby(rows, key=lambda row: int(row[1])):
        if owner not in data_keys:  # never: a person's templates go with their key (delete_person)
            continue
        template_ids, sealed = [], []
        for template_id, _, model_id, key_id, packed in group:
            assert packed is not None, "only rows with a record are read"
            template_ids.append(template_id)
            sealed.append((unpack_sealed(key_id, packed), row_aads(template_id, owner, model_id)[1]))
        naming += _naming(data_keys[owner], sealed, template_ids=template_ids, owner=owner, erased=person_id)
    for start in range(0, len(naming), _IN_CLAUSE_ROWS):
        chunk = naming[start : start + _IN_CLAUSE_ROWS]
        session.exec(update(FaceTemplate).where(col(FaceTemplate.id).in_(chunk)).values(lookalikes=None))
    return len(naming)


def _naming(
    data_key: bytes,
    sealed: Sequence[tuple[Sealed, bytes]],
    *,
    template_ids: list[str],
    owner: int,
    erased: int,
) -> list[str]:
    """The templates among one owner's whose record names `erased`, is malformed or cannot be opened."""
    try:
        opened = open_all_with(data_key, sealed)
    except DecryptionError:
        logger.warning(
            "erasure of person %d: %d look-alike records of person %d cannot be authenticated; nulled",
            erased,
            len(template_ids),
            owner,
        )
        return template_ids
    return [
        template_id
        for template_id, record in zip(template_ids, opened, strict=True)
        if (named := _named_people(record)) is None or erased in named
    ]
