"""PAD cues are stored whole: the column holds any length of JSON, and 0012 keeps what 0011 stored."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from storage import AuditEventCreate, Engine, Keyring, append_event, create_schema, session_scope
from tests.storage.audit_helpers import downgrade_to, event, row, verify


def _with_cues(index: int, cues: dict[str, object]) -> AuditEventCreate:
    return event(index).model_copy(update={"pad_cues": json.dumps(cues, sort_keys=True)})


def _long_cues() -> dict[str, object]:
    """Cues longer than the old 500-character column, as a card with many cues would write."""
    return {
        "basis": "door calibration: BPCER 0.01, 512 events " + "x" * 120,
        **{f"cue_{i}": 0.1234 for i in range(60)},
    }


def test_cues_longer_than_the_old_column_are_stored_whole_and_verify(
    engine: Engine, keyring: Keyring
) -> None:
    cues = _long_cues()
    assert len(json.dumps(cues, sort_keys=True)) > 1000
    with session_scope(engine) as session:
        append_event(session, keyring, _with_cues(1, cues))

    stored = row(engine, 1)["pad_cues"]
    assert isinstance(stored, str) and json.loads(stored) == cues
    assert verify(engine, keyring).is_ok


def test_a_device_cannot_post_unbounded_cues() -> None:
    with pytest.raises(ValidationError, match="pad_cues"):
        AuditEventCreate.model_validate({**event(1).model_dump(), "pad_cues": "x" * 4001})


def test_upgrading_past_0012_keeps_stored_cues_and_the_chain(engine: Engine, keyring: Keyring) -> None:
    downgrade_to(engine, "0011")
    cues = {"policy": "monitor", "passive": 0.0123, "verdict": "bona_fide"}
    with session_scope(engine) as session:
        for index in (1, 2):
            append_event(session, keyring, _with_cues(index, cues))

    create_schema(engine)

    assert [json.loads(str(row(engine, sequence)["pad_cues"])) for sequence in (1, 2)] == [cues, cues]
    assert verify(engine, keyring).is_ok
    with session_scope(engine) as session:
        append_event(session, keyring, _with_cues(3, _long_cues()))
    assert verify(engine, keyring).is_ok
