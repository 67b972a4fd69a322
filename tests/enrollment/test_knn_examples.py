"""Enroll face_recognition's knn_examples (five people) and identify its multi-person test photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrollment import Photo, identify
from recognition import Recognizer
from storage import Engine, Keyring, session_scope
from tests.data import knn_examples

pytestmark = pytest.mark.model


@pytest.fixture
def enrolled(enroll_person) -> dict[int, str]:
    """Every train/<name>/ folder enrolled as one person; person id → folder name."""
    train = knn_examples() / "train"
    names = {}
    for folder in sorted(path for path in train.iterdir() if path.is_dir()):
        photos = [Photo(path.name, path.read_bytes()) for path in sorted(folder.iterdir())]
        names[enroll_person(folder.name, *photos)] = folder.name
    assert len(names) == 5
    return names


def _identified(engine: Engine, keyring: Keyring, recognizer: Recognizer, photo: Path, names: dict[int, str]):
    with session_scope(engine) as session:
        faces = identify(session, keyring, recognizer, image_data=photo.read_bytes(), fpir_target=None)[0]
    return sorted((names[face.person_id] if face.person_id is not None else "unknown") for face in faces)


@pytest.mark.parametrize(
    ("photo", "expected"),
    [
        ("obama_and_biden.jpg", ["biden", "obama", "unknown"]),
        ("kit_with_rose.jpg", ["kit_harington", "rose_leslie"]),
        ("obama1.jpg", ["obama"]),
        ("alex_lacamoire1.jpg", ["alex_lacamoire"]),
        ("johnsnow_test1.jpg", ["kit_harington"]),
    ],
)
def test_identify_test_photos(engine, keyring, recognizer, enrolled, photo, expected):
    assert _identified(engine, keyring, recognizer, knn_examples() / "test" / photo, enrolled) == expected
