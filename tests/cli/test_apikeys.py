"""`facegate apikeys`: create for every role, list without secrets, revoke; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.apikeys import parse_expiry
from storage import AuthFailure, Role, authenticate, create_schema, make_engine, session_scope

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def configured(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    return database_url


def _check(database_url: str, token: str) -> AuthFailure | None:
    engine = make_engine(database_url)
    create_schema(engine)
    try:
        with session_scope(engine) as session:
            return authenticate(session, token, now=datetime.now(UTC)).failure
    finally:
        engine.dispose()


@pytest.mark.parametrize("role", list(Role))
def test_create_list_revoke(configured: str, role: Role) -> None:
    code, output = _invoke("apikeys", "create", "--role", role, "--label", "north", "--expires", "30d")
    assert code == 0, output
    token = output.strip().splitlines()[-1]
    token_id, secret = token.split("_")[1], token.split("_", 2)[2]
    assert _check(configured, token) is None

    code, listing = _invoke("apikeys", "list")
    assert code == 0 and token_id in listing and role.value in listing and "north" in listing
    assert secret not in listing

    code, output = _invoke("apikeys", "revoke", token_id)
    assert code == 0, output
    assert _check(configured, token) == AuthFailure.revoked


def test_a_label_like_markup_is_shown_as_written_and_the_token_printed(configured: str) -> None:
    """Once created, a key's token is never shown again: the label must not stop it being printed."""
    code, output = _invoke("apikeys", "create", "--role", "auditor", "--label", "[/] lab [b]")
    assert code == 0, output
    token = output.strip().splitlines()[-1]
    token_id = token.split("_")[1]
    assert f"auditor key {token_id} ([/] lab [b]), expires -" in output
    assert _check(configured, token) is None

    # The console's width is the one its process had when it was made (rich reads COLUMNS then, and
    # another test may have run a command at 80 first): the cell may wrap "[b]" onto a line of its own.
    code, listing = _invoke("apikeys", "list")
    cells = [cell.strip() for line in listing.splitlines() for cell in line.split("│")]
    assert code == 0 and ("[/] lab [b]" in cells or {"[/] lab", "[b]"} <= set(cells)), listing

    code, output = _invoke("apikeys", "revoke", token_id)
    assert code == 0 and f"key {token_id} (auditor, [/] lab [b]) revoked at" in output, output


def test_revoking_an_unknown_key_fails_with_one_line(configured: str) -> None:
    code, output = _invoke("apikeys", "revoke", "0123456789abcdef")
    assert code == 1 and "does not exist" in output


@pytest.mark.parametrize("expires", ["yesterday", "2000-01-01T00:00:00+00:00", "-3d"])
def test_a_bad_or_past_expiry_is_refused(configured: str, expires: str) -> None:
    code, _ = _invoke("apikeys", "create", "--role", "auditor", "--label", "x", "--expires", expires)
    assert code != 0


def test_expiry_forms() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert parse_expiry("30d", now=now) == now + timedelta(days=30)
    assert parse_expiry("12h", now=now) == now + timedelta(hours=12)
    assert parse_expiry("90m", now=now) == now + timedelta(minutes=90)
    assert parse_expiry("2027-01-01", now=now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_expiry("2027-01-01T08:00:00+01:00", now=now) == datetime(2027, 1, 1, 7, tzinfo=UTC)
