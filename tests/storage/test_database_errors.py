"""What the database refuses inside a transaction reaches callers as storage errors, never sqlalchemy's."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text

from storage import (
    Conflict,
    DatabaseUnavailable,
    Engine,
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
from tests.concurrency import Worker, signal_on

WAIT_S = 60.0  # generous: the shared machine is heavily loaded


def _both_check_before_either_commits(engine: Engine, write: Callable[[Session], object]) -> list[Worker]:
    """Runs `write` in two transactions: the first stays open until the second, whose check found
    nothing, sends its INSERT INTO door; then the first commits. Returns [first, second]."""
    first_inserted = threading.Event()

    def run(*, is_first: bool) -> None:
        with session_scope(engine) as session:
            write(session)
            if is_first:
                first_inserted.set()
                assert second.reached.wait(timeout=WAIT_S)

    first, second = Worker(lambda: run(is_first=True)), Worker(lambda: run(is_first=False))
    with signal_on(engine, second, "INSERT INTO door", is_after=False):
        first.thread.start()
        assert first_inserted.wait(timeout=WAIT_S)
        second.thread.start()
        first.thread.join(timeout=WAIT_S)
        second.thread.join(timeout=WAIT_S)
    return [first, second]


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
    with session_scope(engine) as session:
        ids = [create_door(session, name=name).id for name in ("a", "b")]
    both_hold_one = threading.Barrier(2, timeout=WAIT_S)
    touch = text("UPDATE door SET name = name WHERE id = :id")

    def lock_in_order(first_id: int, second_id: int) -> None:
        with session_scope(engine) as session:
            session.execute(touch, {"id": first_id})
            both_hold_one.wait()
            session.execute(touch, {"id": second_id})

    workers = [Worker(lambda: lock_in_order(ids[0], ids[1])), Worker(lambda: lock_in_order(ids[1], ids[0]))]
    for worker in workers:
        worker.thread.start()
    for worker in workers:
        worker.thread.join(timeout=WAIT_S)

    errors = [error for worker in workers for error in worker.errors]
    assert [type(error) for error in errors] == [TransactionAborted], errors
    assert isinstance(errors[0], DatabaseUnavailable)  # callers that retry a lost database retry this too
    assert "40P01" in str(errors[0])
    assert getattr(getattr(errors[0].__cause__, "orig", None), "sqlstate", None) == "40P01"  # a real one
