"""Look-alike records for templates stored before migration 0011, made as enrollment makes them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recognition import Recognizer, vector_from_bytes
from storage import (
    Cipher,
    Engine,
    MissingLookalikes,
    count_templates_without_lookalikes,
    load_templates,
    session_scope,
    store_missing_lookalikes,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LookalikeBackfill:
    """What one run found and wrote."""

    missing: int
    """Templates of the model without a record when the run began."""
    stored: int
    """Records written; the rest got one meanwhile, or were deleted."""


def backfill_lookalikes(
    engine: Engine,
    keyring: Cipher,
    recognizer: Recognizer,
    *,
    batch_templates: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> LookalikeBackfill:
    """Store a look-alike record for every template of the recognizer's model that has none.

    A template without a record is not missing its pairs: every gallery load searches its neighbours
    instead (the cost the records were added to save: a gate's cold start and full reloads). Each
    record is `Gallery.neighbour_records` over every stored template of the model, as enrollment's,
    with the template already in the gallery, so it names what a load's search would find.

    Safe on a running system, kept simple: the gallery is read once, and each batch of records is
    written in its own transaction only where the row still has none, so running it again (or twice
    at once) changes nothing, and a template deleted meanwhile is skipped. A template enrolled during
    the run is not in the snapshot and so is named by no backfilled record; it carries its own record,
    which names the older templates it resembles, and a pair needs only one side. The gallery version
    is not bumped: running gates hold the same pairs already and read the records at their next full
    load. `progress(done, total)` is called after each batch.

    Raises:
        NotFound, UnknownKeyId, DecryptionError: a stored template cannot be decrypted.
        IndexStateError: a stored template does not fit the model.
    """
    model_id = recognizer.model_id
    with session_scope(engine) as session:
        if count_templates_without_lookalikes(session, model_id=model_id) == 0:
            return LookalikeBackfill(missing=0, stored=0)
        stored = [
            template for batch in load_templates(session, keyring, model_id=model_id) for template in batch
        ]
    gallery = recognizer.new_gallery()
    recognizer.add_to(
        gallery, [(t.template_id, t.person_id, t.plaintext) for t in stored], neighbours=[b""] * len(stored)
    )
    missing = [t for t in stored if t.lookalikes is None]
    written = 0
    for start in range(0, len(missing), batch_templates):
        batch = missing[start : start + batch_templates]
        vectors = np.stack([vector_from_bytes(t.plaintext, dim=gallery.dim) for t in batch])
        records = gallery.neighbour_records([t.person_id for t in batch], vectors, is_in_gallery=True)
        with session_scope(engine) as session:
            written += store_missing_lookalikes(
                session,
                keyring,
                model_id=model_id,
                records=[
                    (MissingLookalikes(t.template_id, t.person_id), record)
                    for t, record in zip(batch, records, strict=True)
                ],
            )
        if progress is not None:
            progress(start + len(batch), len(missing))
    logger.info("look-alike records stored for %d of %d templates (%s)", written, len(missing), model_id)
    return LookalikeBackfill(missing=len(missing), stored=written)
