"""Encrypted face templates: each one stored under its person's data key and logged as a gallery change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, delete, select

from storage.cipher import pack_sealed, seal_all_with
from storage.erasure_log import ErasedBy, record_erasure
from storage.errors import NotFound
from storage.gallery_log import (
    _IN_CLAUSE_ROWS,
    bump_gallery_version,
    lock_gallery_version,
    record_change,
    row_aads,
)
from storage.lookalike_purge import names_someone_gone
from storage.models import FaceTemplate, GalleryChange, GalleryChangeKind, Person, TemplatePublic, utc_now
from storage.person_keys import person_data_keys, unwrap_person_keys
from storage.protocols import Cipher
from storage.timeutil import as_utc


def store_template(
    session: Session,
    cipher: Cipher,
    *,
    person_id: int,
    model_id: str,
    plaintext: bytes,
    source_name: str,
    quality: dict[str, float] | None = None,
    lookalikes: bytes | None = None,
) -> FaceTemplate:
    """Encrypt under the person's data key (made on first use) and add one template (see `store_templates`).

    The caller commits and bumps the gallery version.
    """
    new = NewTemplate(person_id, plaintext, source_name, quality=quality, lookalikes=lookalikes)
    (template_id,) = store_templates(session, cipher, model_id=model_id, templates=[new])
    row = session.get(FaceTemplate, template_id)
    assert row is not None, "inserted in this transaction"
    return row


@dataclass(frozen=True)
class NewTemplate:
    """One template to store: its owner, plaintext bytes, source, and look-alike neighbours if known."""

    person_id: int
    plaintext: bytes
    source_name: str
    quality: dict[str, float] | None = None
    lookalikes: bytes | None = None
    """Its look-alike neighbours in the gallery it joins (recognition's byte form); stored encrypted."""


def store_templates(
    session: Session, cipher: Cipher, *, model_id: str, templates: Sequence[NewTemplate]
) -> list[str]:
    """Encrypt and add many templates, one insert statement per table; returns their ids in order.

    Each template, and its look-alike neighbours when given, is encrypted under its person's data key
    (made on first use, unwrapped in bulk) with a fresh nonce each and associated data binding it to
    its row (F1). Each is logged as added; the caller commits and bumps the gallery version.
    """
    if not templates:
        return []
    data_keys = person_data_keys(session, cipher, [t.person_id for t in templates])
    template_ids = [uuid.uuid4().hex for _ in templates]
    now = utc_now()
    rows = []
    for template_id, template in zip(template_ids, templates, strict=True):
        aad, lookalikes_binding = row_aads(template_id, template.person_id, model_id)
        items = [(template.plaintext, aad)]
        if template.lookalikes is not None:
            items.append((template.lookalikes, lookalikes_binding))
        sealed = seal_all_with(data_keys[template.person_id], items)
        rows.append(
            {
                "id": template_id,
                "person_id": template.person_id,
                "model_id": model_id,
                "key_id": sealed[0].key_id,
                "nonce": sealed[0].nonce,
                "ciphertext": sealed[0].ciphertext,
                "lookalikes": pack_sealed(sealed[1]) if len(sealed) > 1 else None,
                "source_name": template.source_name[:255],
                "created_at": now,
                "quality": template.quality,
            }
        )
    session.execute(insert(FaceTemplate), rows)
    session.execute(
        insert(GalleryChange),
        [
            {"kind": GalleryChangeKind.template_added, "person_id": t.person_id, "template_id": template_id}
            for template_id, t in zip(template_ids, templates, strict=True)
        ],
    )
    return template_ids


@dataclass(frozen=True)
class MissingLookalikes:
    """A template stored without a look-alike record (before migration 0011): its id and owner."""

    template_id: str
    person_id: int


def count_templates_without_lookalikes(session: Session, *, model_id: str) -> int:
    """How many templates of one model have no look-alike record (stored before migration 0011)."""
    missing = col(FaceTemplate.model_id) == model_id, col(FaceTemplate.lookalikes).is_(None)
    return int(session.exec(select(func.count()).select_from(FaceTemplate).where(*missing)).one())


def store_missing_lookalikes(
    session: Session, cipher: Cipher, *, model_id: str, records: Sequence[tuple[MissingLookalikes, bytes]]
) -> int:
    """Seal and store look-alike records for templates that have none; returns how many were written.

    Each record is sealed as `store_templates` seals one: under its person's data key, a fresh nonce,
    bound to its row (F1). A row that meanwhile got a record, was deleted or changed hands, or whose
    person has no data key any more, is left as it is; so is one whose record names a person erased
    since it was made (the backfill's gallery was read before). The gallery version is not bumped: a record
    only spares a gallery's load the search that finds the same pairs. It is locked first, as every
    writer of the gallery locks it: holding template rows only (updated in id order) deadlocked with a
    deletion of their person (version row, person, then the templates in their stored order).
    """
    lock_gallery_version(session)
    owners = sorted({template.person_id for template, _ in records})
    data_keys: dict[int, bytes] = {}
    for start in range(0, len(owners), _IN_CLAUSE_ROWS):
        data_keys |= unwrap_person_keys(session, cipher, person_ids=owners[start : start + _IN_CLAUSE_ROWS])
    names_gone = names_someone_gone(session, [record for _, record in records])
    written = 0
    for (template, record), is_stale in zip(records, names_gone, strict=True):
        if template.person_id not in data_keys or is_stale:
            continue
        _, binding = row_aads(template.template_id, template.person_id, model_id)
        (sealed,) = seal_all_with(data_keys[template.person_id], [(record, binding)])
        result = session.exec(
            update(FaceTemplate)
            .where(
                col(FaceTemplate.id) == template.template_id,
                col(FaceTemplate.person_id) == template.person_id,
                col(FaceTemplate.model_id) == model_id,
                col(FaceTemplate.key_id) == sealed.key_id,
                col(FaceTemplate.lookalikes).is_(None),
            )
            .values(lookalikes=pack_sealed(sealed))
        )
        written += result.rowcount
    return written


def _template_public(row: FaceTemplate) -> TemplatePublic:
    return TemplatePublic(
        id=row.id,
        person_id=row.person_id,
        model_id=row.model_id,
        source_name=row.source_name,
        created_at=as_utc(row.created_at),
        quality=row.quality,
    )


def list_person_templates(
    session: Session, person_id: int, *, offset: int = 0, limit: int = 50
) -> tuple[list[TemplatePublic], int]:
    """One page of a person's templates, oldest first (metadata only), and the total.

    Raises:
        NotFound: no such person.
    """
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id} does not exist")
    mine = col(FaceTemplate.person_id) == person_id
    total = int(session.exec(select(func.count()).select_from(FaceTemplate).where(mine)).one())
    rows = session.exec(
        select(FaceTemplate)
        .where(mine)
        .order_by(col(FaceTemplate.created_at), col(FaceTemplate.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return [_template_public(row) for row in rows], total


def delete_template(session: Session, *, person_id: int, template_id: str, erased_by: ErasedBy) -> None:
    """Delete one template of a person and bump the gallery version; append the deletion's audit event
    (`erased_by`: who and when) in the same transaction.

    The change log has no single-template removal: the person's templates are logged as removed and
    their remaining ones as added again, so a gate applying the delta ends with exactly the rest. The
    gallery version row is locked first, so the rest includes what an enrollment holding it adds.

    Raises:
        NotFound: the person has no template with this id.
        ChainBroken: the audit chain's head is missing although events exist.
    """
    lock_gallery_version(session)
    # One statement (not read, then the ORM's delete): on SQLite the reads before the first write hold
    # no lock, so the template could go with its person's erasure before the delete, which removed nothing.
    mine = (col(FaceTemplate.id) == template_id) & (col(FaceTemplate.person_id) == person_id)
    if session.exec(delete(FaceTemplate).where(mine)).rowcount == 0:
        raise NotFound(f"person {person_id} has no template {template_id}")
    record_change(session, GalleryChangeKind.person_removed, person_id=person_id)
    remaining = session.exec(select(FaceTemplate.id).where(col(FaceTemplate.person_id) == person_id))
    for remaining_id in remaining.all():
        record_change(
            session, GalleryChangeKind.template_added, person_id=person_id, template_id=remaining_id
        )
    bump_gallery_version(session)
    record_erasure(session, erased_by, person_id=person_id, template_id=template_id)
