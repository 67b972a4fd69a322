"""What the database refuses inside a transaction reaches callers as storage errors, never sqlalchemy's."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest
from sqlalchemy import text

from storage import (
    Conflict,
    ConstraintViolation,
    DatabaseUnavailable,
    Engine,
    InvalidValue,
    MissingReference,
    NotFound,
    Session,
    TransactionAborted,
    create_door,
    create_group,
    ensure_door,
    list_doors,
    session_scope,
)
from tests.concurrency import Worker, both_check_before_either_commits, deadlocked_pair

WAIT_S = 60.0  # generous: the shared machine is heavily loaded


def _both_check_before_either_commits(engine: Engine, write: Callable[[Session], object]) -> list[Worker]:
    """`write` in two transactions, the second's door check done before the first commits."""
    return both_check_before_either_commits(
        engine, write, fragment="INSERT INTO door", is_after=False, wait_s=WAIT_S
    )


def test_two_creations_of_one_door_name_at_once_one_gets_conflict(engine: Engine) -> None:
    """Both check the name before either commits; the database's unique index decides."""
    first, second = _both_check_before_either_commits(engine, lambda s: create_door(s, name="front"))

    assert first.errors == []
    assert [type(error) for error in second.errors] == [Conflict]
    assert str(second.errors[0]) == "another door has the same name"
    with session_scope(engine) as session:
        assert [door.name for door in list_doors(session)] == ["front"]


def test_two_gates_registering_one_door_at_once_both_get_it(engine: Engine) -> None:
    """ensure_door is idempotent under concurrency: the later insert waits, does nothing, and reads."""
    ids: list[int | None] = []
    workers = _both_check_before_either_commits(engine, lambda s: ids.append(ensure_door(s, name="front").id))

    assert [worker.errors for worker in workers] == [[], []]
    assert len(ids) == 2 and ids[0] == ids[1]
    with session_scope(engine) as session:
        assert [door.name for door in list_doors(session)] == ["front"]


def test_a_refused_write_names_what_collided_without_its_values(engine: Engine) -> None:
    with session_scope(engine) as session:
        group_id = create_group(session, name="Secret Staff").id
    duplicate = text("INSERT INTO access_group (name, created_at) VALUES ('Secret Staff', CURRENT_TIMESTAMP)")
    with pytest.raises(Conflict) as taken, session_scope(engine) as session:
        session.execute(duplicate)
    assert str(taken.value) == "another access group has the same name"

    orphan = text("INSERT INTO access_group_member (group_id, person_id) VALUES (:group_id, 424242)")
    with pytest.raises(MissingReference) as missing, session_scope(engine) as session:
        session.execute(orphan, {"group_id": group_id})
    assert isinstance(missing.value, NotFound)  # the API answers 404, as for a person looked up first
    if engine.dialect.name == "postgresql":
        assert str(missing.value).startswith("the person this access group member refers to does not exist")
    assert "424242" not in str(missing.value) and "Secret" not in str(missing.value)


def test_a_deadlock_is_reported_as_retryable_and_the_other_transaction_commits(engine: Engine) -> None:
    """Two transactions lock two doors in opposite orders; PostgreSQL aborts one of them."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time through: it cannot deadlock")

    def in_a_transaction(change: Callable[[Session], str]) -> None:
        with session_scope(engine) as session:
            change(session)

    workers = deadlocked_pair(engine, in_a_transaction, wait_s=WAIT_S)

    errors = [error for worker in workers for error in worker.errors]
    assert [type(error) for error in errors] == [TransactionAborted], errors
    assert isinstance(errors[0], DatabaseUnavailable)  # callers that retry a lost database retry this too
    assert "40P01" in str(errors[0])
    assert "DeadlockDetected, code 40P01" in str(errors[0].__cause__)  # a real one, redacted


SECRET_NAME, SECRET_TIME = "Secret Staff", "2031-05-06 07:08:09"
"""Values a statement carries, in variables as in the product: a traceback's source lines hold none."""


def _logged(error: BaseException) -> str:
    """What the API's 5xx handler logs for `error`: its traceback with every chained cause."""
    return "".join(traceback.format_exception(error))


def test_a_refused_write_logs_no_value_of_the_row_or_the_statement(engine: Engine) -> None:
    """The driver's text holds the parameters and PostgreSQL's DETAIL ("Key (name)=(Secret Staff)",
    "Failing row contains (...)"): none of it reaches a logged traceback, only where and which code."""
    with session_scope(engine) as session:
        create_group(session, name=SECRET_NAME)
    duplicate = text("INSERT INTO access_group (name, created_at) VALUES (:name, CURRENT_TIMESTAMP)")
    with pytest.raises(Conflict) as taken, session_scope(engine) as session:
        session.execute(duplicate, {"name": SECRET_NAME})
    nameless = text("INSERT INTO access_group (name, created_at) VALUES (NULL, :when)")
    with pytest.raises(ConstraintViolation) as broken, session_scope(engine) as session:
        session.execute(nameless, {"when": SECRET_TIME})

    for error, code in (
        (taken.value, ("23505", "SQLITE_CONSTRAINT_UNIQUE")),
        (broken.value, ("23502", "NOTNULL")),
    ):
        logged = _logged(error)
        assert SECRET_NAME not in logged and SECRET_TIME not in logged and "[parameters" not in logged
        assert "session.execute(" in logged  # the frames still show where the statement ran
        assert any(part in str(error.__cause__) for part in code), str(error.__cause__)


def test_a_value_its_column_cannot_hold_is_invalid_and_not_quoted(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores any value in any column: no DataError to translate")
    with pytest.raises(InvalidValue) as refused, session_scope(engine) as session:
        session.execute(text("SELECT CAST(:id AS integer)"), {"id": SECRET_NAME})
    assert SECRET_NAME not in _logged(refused.value)
    assert "22P02" in str(refused.value)
