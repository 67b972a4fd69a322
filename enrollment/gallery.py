"""The enrolled gallery, decrypted from storage into a FAISS index for one search request."""

from __future__ import annotations

from recognition import Gallery, Recognizer
from storage import Cipher, Session, iter_templates


def stored_gallery(
    session: Session,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    exclude_person_id: int | None = None,
    lookalike_min_cos: float | None = None,
) -> Gallery:
    """Every stored template of the recognizer's model, optionally without one person's.

    Raises:
        UnknownKeyId, DecryptionError: a stored template cannot be decrypted.
    """
    templates = (
        (t.template_id, t.person_id, t.plaintext)
        for t in iter_templates(session, keyring, model_id=recognizer.model_id)
        if t.person_id != exclude_person_id
    )
    return recognizer.new_gallery(templates, lookalike_min_cos=lookalike_min_cos)
