"""`facegate audit`: verify and checkpoints through typer's CliRunner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from storage import (
    AuditEventCreate,
    Cipher,
    Decision,
    Engine,
    Keyring,
    StorageSettings,
    append_event,
    checkpoint_public_key,
    create_schema,
    generate_key,
    load_keyring,
    make_engine,
    parse_checkpoint,
    session_scope,
)
from tests.storage.audit_helpers import append, signed_by_stranger

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


@pytest.fixture
def audited(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, Cipher]]:
    """A master key and a database in the environment, as every command reads them; six audit events."""
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("FACEGATE_MASTER_KEY", generate_key())
    keyring = load_keyring(StorageSettings())
    engine = make_engine(database_url)
    create_schema(engine)
    append(engine, keyring, range(1, 7))
    yield engine, keyring
    engine.dispose()


def _sql(engine: Engine, statement: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement))


def test_verify_passes_on_a_clean_log_and_names_the_first_broken_link_after_tampering(
    audited: tuple[Engine, Cipher],
) -> None:
    engine, _ = audited
    code, output = _invoke("audit", "verify")
    assert code == 0, output
    assert "intact: 6 events verified" in output

    _sql(engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = 4")
    code, output = _invoke("audit", "verify")
    assert code == 1
    assert "broken at sequence 4 (edited)" in output and "3 events verified before it" in output

    _sql(engine, "DELETE FROM audit_event WHERE sequence = 2")
    code, output = _invoke("audit", "verify")
    assert code == 1 and "broken at sequence 2 (deleted)" in output


def test_verify_names_a_value_facegate_never_writes(
    audited: tuple[Engine, Cipher], database_url: str
) -> None:
    """SQLite keeps a decision 'GRANTED' (PostgreSQL's enum refuses it): `audit verify` ended with a
    LookupError traceback instead of the report's line."""
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's enum type refuses a decision FaceGate never writes")
    engine, _ = audited
    _sql(engine, "UPDATE audit_event SET decision = 'GRANTED' WHERE sequence = 4")

    code, output = _invoke("audit", "verify")

    assert code == 1, output
    assert output.startswith(
        "audit chain broken at sequence 4 (edited): its decision holds a value FaceGate never writes ("
    )
    assert output.endswith("): edited outside FaceGate; 3 events verified before it")


def test_events_names_a_value_facegate_never_writes(
    audited: tuple[Engine, Cipher], database_url: str
) -> None:
    """`facegate events` ended with a LookupError traceback; now one line names the event and its column."""
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's enum type refuses a decision FaceGate never writes")
    _sql(audited[0], "UPDATE audit_event SET decision = 'GRANTED' WHERE sequence = 4")

    code, output = _invoke("events")

    assert code == 1, output
    assert "the audit event at sequence 4 cannot be read: its decision holds a value FaceGate never" in output
    assert "`facegate audit verify`" in output


def test_checkpoint_export_and_check(audited: tuple[Engine, Cipher], tmp_path: Path) -> None:
    engine, keyring = audited
    file = tmp_path / "checkpoint.json"
    code, output = _invoke("audit", "checkpoint", "export", "--out", str(file))
    assert code == 0, output
    assert json.loads(file.read_text())["sequence"] == 6
    assert checkpoint_public_key(keyring) in output

    code, output = _invoke(
        "audit", "checkpoint", "check", str(file), "--public-key", checkpoint_public_key(keyring)
    )
    assert code == 0, output
    assert "checkpoint holds: event 6" in output and "intact: 6 events verified" in output

    other = checkpoint_public_key(Keyring([secrets.token_bytes(32)]))
    code, output = _invoke("audit", "checkpoint", "check", str(file), "--public-key", other)
    assert code == 1 and "CheckpointInvalid" in output and "not the expected" in output

    # Someone with the master key rewrites the whole history: it verifies, the checkpoint does not.
    _sql(engine, "DELETE FROM audit_event")
    _sql(engine, "DELETE FROM audit_chain_head")
    append(engine, keyring, range(50, 58))
    assert _invoke("audit", "verify")[0] == 0
    code, output = _invoke("audit", "checkpoint", "check", str(file))
    assert code == 1 and "CheckpointMismatch" in output and "event 6 has another link" in output


def test_check_refuses_a_signer_no_master_key_derives_unless_it_is_the_one_given(
    audited: tuple[Engine, Cipher], tmp_path: Path
) -> None:
    """Anyone can sign a link the log holds with a key of their own; by default only the keyring's master
    keys vouch for a checkpoint, as for `audit verify --since-checkpoint`."""
    file = tmp_path / "checkpoint.json"
    assert _invoke("audit", "checkpoint", "export", "--out", str(file))[0] == 0
    forged = signed_by_stranger(parse_checkpoint(file.read_text()))
    file.write_text(forged.to_json())

    code, output = _invoke("audit", "checkpoint", "check", str(file))
    assert code == 1 and "CheckpointInvalid" in output and "none of the keyring's master keys" in output
    assert "checkpoint holds" not in output
    code, output = _invoke("audit", "checkpoint", "check", str(file), "--public-key", forged.public_key_hex)
    assert code == 0, output
    assert "checkpoint holds: event 6 still has the link signed at" in output
    assert forged.public_key_hex in output


def test_export_refuses_a_broken_chain_and_check_reports_it(
    audited: tuple[Engine, Cipher], tmp_path: Path
) -> None:
    engine, _ = audited
    file = tmp_path / "checkpoint.json"
    assert _invoke("audit", "checkpoint", "export", "--out", str(file))[0] == 0
    _sql(engine, "UPDATE audit_event SET reason = 'match' WHERE sequence = 5")

    code, output = _invoke("audit", "checkpoint", "check", str(file))
    assert code == 1 and "checkpoint holds: event 6" in output and "broken at sequence 5 (edited)" in output
    code, output = _invoke("audit", "checkpoint", "export", "--out", str(tmp_path / "second.json"))
    assert code == 1 and "ChainBroken" in output and not (tmp_path / "second.json").exists()


def test_check_refuses_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"sequence": 3}')
    code, output = _invoke("audit", "checkpoint", "check", str(bogus))
    assert code == 1 and "not a FaceGate audit checkpoint" in output
    assert _invoke("audit", "checkpoint", "check", str(tmp_path / "missing.json"))[0] == 2


def test_verify_without_a_master_key_says_so() -> None:
    code, output = _invoke("audit", "verify")
    assert code == 1 and "no master key" in output


def test_verify_since_a_checkpoint_checks_only_the_events_after_it(
    audited: tuple[Engine, Cipher], tmp_path: Path
) -> None:
    engine, keyring = audited
    file = tmp_path / "checkpoint.json"
    assert _invoke("audit", "checkpoint", "export", "--out", str(file))[0] == 0
    append(engine, keyring, range(7, 10))
    _sql(engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = 4")  # before the checkpoint

    assert _invoke("audit", "verify")[0] == 1
    code, output = _invoke("audit", "verify", "--since-checkpoint", str(file))
    assert code == 0, output
    assert "intact after checkpointed event 6: 3 events verified, head at 9" in output
    assert "events up to 6 (the checkpoint signed" in output and "were not verified" in output

    _sql(engine, "DELETE FROM audit_event WHERE sequence = 7")  # right after it
    code, output = _invoke("audit", "verify", "--since-checkpoint", str(file))
    assert code == 1 and "broken at sequence 7 (deleted)" in output
    assert "0 events verified after checkpointed event 6 before it" in output

    other = Keyring([secrets.token_bytes(32)])
    document = json.loads(file.read_text()) | {"public_key_hex": checkpoint_public_key(other)}
    file.write_text(json.dumps(document))
    code, output = _invoke("audit", "verify", "--since-checkpoint", str(file))
    assert code == 1 and "CheckpointInvalid" in output


def test_export_acknowledging_an_investigated_break_re_anchors_the_chain(
    audited: tuple[Engine, Cipher], tmp_path: Path
) -> None:
    engine, keyring = audited
    _sql(engine, "UPDATE audit_event SET reason = 'match' WHERE sequence = 5")
    file = tmp_path / "reanchored.json"
    export = ("audit", "checkpoint", "export", "--out", str(file))

    code, output = _invoke(*export)
    assert code == 1 and "`facegate audit checkpoint export --acknowledge-break 5 --note TEXT`" in output
    code, output = _invoke(*export, "--acknowledge-break", "4", "--note", "INC-42")
    assert code == 1 and "BreakNotAcknowledged" in output and "first breaks at sequence 5" in output
    assert _invoke(*export, "--acknowledge-break", "5")[0] == 2  # no note: nothing recorded
    assert not file.exists()
    code, output = _invoke(*export, "--acknowledge-break", "5", "--note", "INC-42: a restored row")
    assert code == 0, output
    assert "checkpoint of event 7 written" in output
    assert "acknowledging the audit chain's break at 5 (edited) (recorded as audit event 7)" in output
    assert parse_checkpoint(file.read_text()).acknowledged_breaks[0].sequence == 5

    code, output = _invoke("audit", "verify")
    assert code == 1 and "broken at sequence 5 (edited)" in output  # the break stays visible
    append(engine, keyring, range(7, 9))
    code, output = _invoke("audit", "verify", "--since-checkpoint", str(file))
    assert code == 0, output
    assert "intact after checkpointed event 7: 2 events verified, head at 9" in output
    assert "acknowledging the audit chain's break at 5 (edited)) were not verified" in output
    code, output = _invoke("audit", "checkpoint", "check", str(file))
    assert code == 1 and "checkpoint holds: event 7" in output
    assert "it was signed acknowledging the audit chain's break at 5 (edited), and the chain" in output

    _sql(engine, "UPDATE audit_event SET score = 0.01 WHERE sequence = 2")  # before the break, since
    code, output = _invoke("audit", "checkpoint", "check", str(file))
    assert code == 1 and "CheckpointMismatch" in output and "checkpoint holds" not in output
    assert "now breaks at 2 (edited), 5 (edited), but" in " ".join(output.split())


def test_an_unwritable_out_is_refused_before_a_re_anchoring_appends_its_event(
    audited: tuple[Engine, Cipher], tmp_path: Path
) -> None:
    engine, _ = audited
    _sql(engine, "UPDATE audit_event SET reason = 'match' WHERE sequence = 5")
    acknowledging = ("--acknowledge-break", "5", "--note", "INC-42")
    folder = tmp_path / "checkpoints"
    folder.mkdir()

    missing = folder / "no-such-folder" / "reanchored.json"
    code, output = _invoke("audit", "checkpoint", "export", "--out", str(missing), *acknowledging)

    with engine.connect() as connection:  # no acknowledgement without its checkpoint
        assert connection.execute(text("SELECT max(sequence) FROM audit_event")).scalar_one() == 6
    assert code == 2 and "--out" in output and "reanchored.json: No such file or directory" in output
    file = folder / "reanchored.json"
    refused = _invoke(
        "audit", "checkpoint", "export", "--out", str(file), "--acknowledge-break", "4", "--note", "x"
    )
    assert refused[0] == 1 and list(folder.iterdir()) == []  # a refusal leaves no file behind
    assert _invoke("audit", "checkpoint", "export", "--out", str(file), *acknowledging)[0] == 0
    assert parse_checkpoint(file.read_text()).sequence == 7
    assert [path.name for path in folder.iterdir()] == ["reanchored.json"]  # no temporary file left


def test_events_shows_a_door_named_like_rich_markup_as_it_is_named(audited: tuple[Engine, Cipher]) -> None:
    """Door names are free text: `[/]` and `[b]` are listed as written, not read as markup (the first
    ended `facegate events` with rich's MarkupError, the second vanished into bold)."""
    engine, keyring = audited
    with session_scope(engine) as session:
        for door in ("[/]", "[b]"):
            posted = AuditEventCreate(
                door=door, source="cam", decision=Decision.denied, reason="unknown", model_id="m"
            )
            append_event(session, keyring, posted)
    for door in ("[/]", "[b]"):
        code, output = _invoke("events", "--door", door)
        assert code == 0, output
        assert "1 of 1 events" in output and f"│ {door} │" in output
