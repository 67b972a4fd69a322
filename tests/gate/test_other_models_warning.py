"""A gate whose model differs from the one people were enrolled under says so when its gallery first loads.

After a model switch the gallery of the new model holds none of the former model's templates: every such
person is denied (gallery_empty or unknown) while the database still lists them as enrolled.
"""

from __future__ import annotations

import logging

import pytest

from gate import GalleryCache
from recognition import Recognizer
from storage import Engine, Keyring
from tests.fakes import FakeClock
from tests.model_switch import enroll_under

OTHER_MODEL = "mobilefacenet-foamliu-onnx@a6cc903"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "gate.gallery" and r.levelno == logging.WARNING
    ]


def test_people_enrolled_only_under_another_model_are_counted_once_at_the_first_load(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    enroll_person,
    caplog: pytest.LogCaptureFixture,
) -> None:
    enroll_person("Alice", group_faces[0])  # under the running model (SFace)
    enroll_under(engine, keyring, "Bob", OTHER_MODEL, OTHER_MODEL)
    enroll_under(engine, keyring, "Cy", OTHER_MODEL)
    clock = FakeClock()
    cache = GalleryCache(engine=engine, keyring=keyring, recognizer=recognizer, poll_s=2.0, monotonic=clock)

    with caplog.at_level(logging.WARNING, logger="gate.gallery"):
        assert len(cache.current()) == 1  # Alice only: the other model's templates are never searched
        clock.advance(2.0)
        cache.current()
    assert _warnings(caplog) == [
        f"2 people are enrolled only under other models ({OTHER_MODEL}: 3 templates), so not in this "
        f"gallery of {recognizer.model_id}: they are denied until enrolled again under it "
        "(`facegate people list` names them)"
    ]


def test_nothing_is_said_when_every_person_has_a_template_of_the_running_model(
    engine: Engine,
    recognizer: Recognizer,
    keyring: Keyring,
    group_faces: list[bytes],
    enroll_person,
    caplog: pytest.LogCaptureFixture,
) -> None:
    enroll_person("Alice", group_faces[0])
    cache = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=2.0, monotonic=FakeClock()
    )
    with caplog.at_level(logging.WARNING, logger="gate.gallery"):
        cache.current()
    assert _warnings(caplog) == []
