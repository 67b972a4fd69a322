"""`unknown_door: refuse` (the default): a gate whose door is no door's name does not register it and opens
for nobody.

The gate is its composition root's wiring (`gate_decisions`) over a real video of a real enrolled face,
with the real models, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gate import GateRuntime, GateSettings, gate_decisions
from storage import (
    Decision,
    EventFilter,
    StorageSettings,
    create_door,
    list_doors,
    query_events,
    session_scope,
)
from tests.fakes import Placement, build_frames, write_video

MISSPELT = "frnot"


def _video(path: Path, recognizer, photo: bytes) -> str:
    """Six frames of one face walking past, then six of an empty doorway, as an MJPG video file."""
    frames = build_frames([Placement(recognizer.decode(photo), 30, 100)], count=6)
    frames += build_frames([], count=6)
    return write_video(path, frames)


def _run(tmp_path: Path, engine, keyring, recognizer, video: str, **settings: object) -> list:
    runtime = GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"), engine=engine, keyring=keyring, recognizer=recognizer
    )
    gate_settings = GateSettings(journal_dir=tmp_path / "journal", **settings)  # type: ignore[arg-type]
    return list(gate_decisions(runtime, source=video, door=MISSPELT, settings=gate_settings))


def _door_names(engine) -> list[str]:
    with session_scope(engine) as session:
        return [door.name for door in list_doors(session)]


def _events(engine) -> list[tuple[Decision, str | None, int | None]]:
    with session_scope(engine) as session:
        events, _ = query_events(session, where=EventFilter(door=MISSPELT), limit=100)
    return [(e.decision, e.reason, e.person_id) for e in reversed(events)]


@pytest.mark.parametrize("settings", [{}, {"unknown_door": "refuse"}], ids=["default", "refuse"])
def test_a_gate_set_to_refuse_an_unknown_door_denies_every_face_until_the_door_is_registered(
    tmp_path, engine, keyring, recognizer, group_faces, enroll_person, caplog, settings
):
    """The gate registered a misspelt door at start, without rules, and so admitted every enrolled person;
    `register` still does, `refuse` (the default: fail closed) denies as unknown_door (audited once per
    interval)."""
    alice = enroll_person("Alice", group_faces[0])
    video = _video(tmp_path / "door.avi", recognizer, group_faces[0])

    with caplog.at_level(logging.ERROR, logger="gate"):
        decisions = _run(tmp_path, engine, keyring, recognizer, video, **settings)
    assert decisions == [] and _door_names(engine) == []
    assert _events(engine) == [(Decision.denied, "unknown_door", None)]
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        (  # at start
            "gate.gallery_source",
            f"door {MISSPELT}: no door is called {MISSPELT!r}, now or before a rename, and unknown_door is "
            "refuse: not registered; every face is denied until the door is registered (facegate doors "
            "create, POST /doors or the console's Access page)",
        ),
        (  # at the first face, not at every frame
            "gate.access_policy",
            f"door {MISSPELT}: no door is called {MISSPELT!r}, now or before a rename; every face is denied "
            "until it exists again",
        ),
    ]

    with session_scope(engine) as session:  # the admin registers the door: the gate decides again
        create_door(session, name=MISSPELT)
    decisions = _run(tmp_path, engine, keyring, recognizer, video, **settings)
    assert [(d.verdict.decision, d.verdict.person_id) for d in decisions] == [(Decision.granted, alice)]


def test_a_gate_set_to_register_an_unknown_door_registers_it_open_as_documented(
    tmp_path, engine, keyring, recognizer, group_faces, enroll_person
):
    """The opt-in (a lab setup): the door is registered at start, without rules, so open to everyone."""
    alice = enroll_person("Alice", group_faces[0])
    video = _video(tmp_path / "door.avi", recognizer, group_faces[0])
    decisions = _run(tmp_path, engine, keyring, recognizer, video, unknown_door="register")
    assert [(d.verdict.decision, d.verdict.person_id) for d in decisions] == [(Decision.granted, alice)]
    assert _door_names(engine) == [MISSPELT]
