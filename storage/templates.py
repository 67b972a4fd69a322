"""Encrypted face templates: each one stored under its person's data key and logged as a gallery change."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from storage.cipher import seal_with
from storage.gallery_log import record_change, template_aad
from storage.models import FaceTemplate, GalleryChangeKind
from storage.person_keys import person_data_key
from storage.protocols import Cipher


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
    record_change(session, GalleryChangeKind.template_added, person_id=person_id, template_id=template_id)
    return row
