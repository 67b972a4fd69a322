"""Encrypted face templates and the gallery version that tells gates to reload."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage.cipher import Keyring, Sealed
from storage.models import FaceTemplate, GalleryVersion


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
    session: Session, keyring: Keyring, *, person_id: int, model_id: str, plaintext: bytes, source_name: str
) -> FaceTemplate:
    """Encrypt and add one template; the caller commits and bumps the gallery version."""
    template_id = uuid.uuid4().hex
    sealed = keyring.seal(
        plaintext, template_aad(template_id=template_id, person_id=person_id, model_id=model_id)
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


def iter_templates(session: Session, keyring: Keyring, *, model_id: str) -> Iterator[DecryptedTemplate]:
    """Decrypt every template of one model.

    Raises:
        UnknownKeyId, DecryptionError: a row cannot be authenticated with the keyring.
    """
    rows = session.exec(
        select(FaceTemplate).where(FaceTemplate.model_id == model_id).order_by(col(FaceTemplate.id))
    )
    for row in rows:
        aad = template_aad(template_id=row.id, person_id=row.person_id, model_id=row.model_id)
        plaintext = keyring.open(Sealed(key_id=row.key_id, nonce=row.nonce, ciphertext=row.ciphertext), aad)
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
