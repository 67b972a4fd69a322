"""Storage fixtures: real embeddings to store, and an audit log with a clean hash chain."""

from __future__ import annotations

import numpy as np
import pytest

from recognition import Recognizer
from storage import Engine, Keyring
from tests.storage.audit_helpers import EVENTS, append


@pytest.fixture
def chain(engine: Engine, keyring: Keyring) -> Engine:
    """EVENTS events, sequences 1..EVENTS, written in two transactions."""
    append(engine, keyring, range(1, 6))
    append(engine, keyring, range(6, EVENTS + 1))
    return engine


@pytest.fixture(scope="session")
def real_vectors(recognizer: Recognizer, group_faces: list[bytes]) -> list[np.ndarray]:
    """SFace embeddings of the first three people in the group photo."""
    return [recognizer.observe(recognizer.decode(jpeg))[0].embedding.vector for jpeg in group_faces[:3]]
