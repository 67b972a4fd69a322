"""Encrypted face templates and the gallery version that tells gates to reload."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage.cipher import Sealed, open_with, seal_with
from storage.models import FaceTemplate, GalleryVersion
from storage.person_keys import person_data_key
from storage.protocols import Cipher


def template_aad(*, template_id: str, person_id: int, model_id: str) -> bytes:
    """Associated data binding a ciphertext to its row, person and model (F1)."""
    return f"facegate/template/v1|{template_id}|{person_id}|{model_id}".encode()


@dataclass(frozen=True)
class DecryptedTemplate:
    """A template's plaintext bytes (the caller knows the vector format) and its owner."""

    template_id: str
    person_id: int
    model_id: str
    plaintext: bytes


def store_template(
    session: Session, cipher: Cipher, *, person_id: int, model_id: str, plaintext: bytes, source_name: str
) -> FaceTemplate:
    """Encrypt under the person's data key (made on first use) and add one template.

    The caller commits and bumps the gallery version.
    """
    template_id = uuid.uuid4().hex
    data_key = person_data_key(session, cipher, person_id, create=True)
    sealed = seal_with(
        data_key, plaintext, template_aad(template_id=template_id, person_id=person_id, model_id=model_id)
    )
    row = FaceTemplate(
        id=template_id,
        person_id=person_id,
        model_id=model_id,
        key_id=sealed.key_id,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
        source_name=source_name[:255],
    )
    session.add(row)
    return row


def iter_templates(session: Session, cipher: Cipher, *, model_id: str) -> Iterator[DecryptedTemplate]:
    """Decrypt every template of one model, unwrapping each person's data key once.

    Raises:
        NotFound: a template whose person has no data key.
        UnknownKeyId, DecryptionError: a key or a row cannot be authenticated.
    """
    rows = session.exec(
        select(FaceTemplate)
        .where(FaceTemplate.model_id == model_id)
        .order_by(col(FaceTemplate.person_id), col(FaceTemplate.id))
    )
    data_keys: dict[int, bytes] = {}
    for row in rows:
        if row.person_id not in data_keys:
            data_keys[row.person_id] = person_data_key(session, cipher, row.person_id)
        aad = template_aad(template_id=row.id, person_id=row.person_id, model_id=row.model_id)
        sealed = Sealed(key_id=row.key_id, nonce=row.nonce, ciphertext=row.ciphertext)
        plaintext = open_with(data_keys[row.person_id], sealed, aad)
        yield DecryptedTemplate(
            template_id=row.id, person_id=row.person_id, model_id=row.model_id, plaintext=plaintext
        )


def gallery_version(session: Session) -> int:
    row = session.get(GalleryVersion, 1)
    return 0 if row is None else row.version


def bump_gallery_version(session: Session) -> int:
    """Increment the version inside the caller's transaction; returns the new value."""
    row = session.get(GalleryVersion, 1, with_for_update=True)
    if row is None:
        row = GalleryVersion(id=1, version=0)
    row.version += 1
    session.add(row)
    return row.version
