"""People enrolled under a given model id, as an installation holds them after a model switch."""

from __future__ import annotations

import numpy as np

from storage import Engine, Keyring, create_person, session_scope, store_template


def enroll_under(engine: Engine, keyring: Keyring, name: str, *model_ids: str) -> int:
    """Create a person with one stored template per model id given (a unit vector: never searched here)."""
    vector = np.ones(128, dtype=np.float32) / np.sqrt(128)
    with session_scope(engine) as session:
        person = create_person(session, name=name)
        assert person.id is not None
        for number, model_id in enumerate(model_ids):
            store_template(
                session,
                keyring,
                person_id=person.id,
                model_id=model_id,
                plaintext=vector.tobytes(),
                source_name=f"{number}.jpg",
            )
        return person.id
