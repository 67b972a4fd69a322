"""Concurrency test helpers: a transaction run in its own thread, a signal when it sends a statement, a hang
detector and a lock held by another session."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from sqlalchemy import event, text

from storage import Engine, Session, create_door, session_scope

T = TypeVar("T")


class Worker:
    """Runs `work` in its own thread, keeping what it raises; `reached`: see `signal_on` (set at its end)."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.errors: list[BaseException] = []
        self.reached = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(work,))

    def _run(self, work: Callable[[], object]) -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test's thread
            self.errors.append(exc)
        finally:
            self.reached.set()


@contextmanager
def signal_on(engine: Engine, worker: Worker, fragment: str, *, is_after: bool) -> Iterator[None]:
    """Set `worker.reached` when the worker's thread sends (or, `is_after`, has run) a statement
    containing `fragment`."""
    name = "after_cursor_execute" if is_after else "before_cursor_execute"

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.get_ident() == worker.thread.ident and fragment in statement:
            worker.reached.set()

    event.listen(engine, name, note)
    try:
        yield
    finally:
        event.remove(engine, name, note)


def deadlocked_pair(
    engine: Engine, run: Callable[[Callable[[Session], str]], object], *, wait_s: float
) -> list[Worker]:
    """Two workers, each calling `run` with a change that locks two new doors in opposite orders once
    both hold one (PostgreSQL aborts one of them for the deadlock; the change returns "committed").
    Returns the workers, joined."""
    with session_scope(engine) as session:
        ids = [create_door(session, name=name).id for name in ("a", "b")]
    both_hold_one = threading.Barrier(2, timeout=wait_s)
    touch = text("UPDATE door SET name = name WHERE id = :id")

    def locking(first_id: int | None, second_id: int | None) -> Callable[[Session], str]:
        def change(session: Session) -> str:
            session.execute(touch, {"id": first_id})
            both_hold_one.wait()
            session.execute(touch, {"id": second_id})
            return "committed"

        return change

    workers = [
        Worker(lambda: run(locking(ids[0], ids[1]))),
        Worker(lambda: run(locking(ids[1], ids[0]))),
    ]
    for worker in workers:
        worker.thread.start()
    for worker in workers:
        worker.thread.join(timeout=wait_s)
    return workers


def both_check_before_either_commits(
    engine: Engine, write: Callable[[Session], object], *, fragment: str, is_after: bool, wait_s: float
) -> list[Worker]:
    """Runs `write` in two transactions: the first stays open until the second (whose check found
    nothing) sends, or with `is_after` has run, a statement containing `fragment`; then the first
    commits. Returns [first, second], joined."""
    first_wrote = threading.Event()

    def run(*, is_first: bool) -> None:
        with session_scope(engine) as session:
            write(session)
            if is_first:
                first_wrote.set()
                assert second.reached.wait(timeout=wait_s)

    first, second = Worker(lambda: run(is_first=True)), Worker(lambda: run(is_first=False))
    with signal_on(engine, second, fragment, is_after=is_after):
        first.thread.start()
        assert first_wrote.wait(timeout=wait_s)
        second.thread.start()
        first.thread.join(timeout=wait_s)
        second.thread.join(timeout=wait_s)
    return [first, second]


def held_after(
    engine: Engine,
    first: Callable[[Session], object],
    *,
    fragment: str,
    second: Callable[[Session], object],
    blocked_s: float,
) -> tuple[Worker, Worker]:
    """`first` in a transaction of its own, held just after it ran a statement containing `fragment`
    until `second` (its own transaction and thread) has committed, or has waited `blocked_s` on a lock
    `first` holds; then `first` goes on. Returns both workers, joined."""
    holder, rival = Worker(in_transaction(engine, first)), Worker(in_transaction(engine, second))
    with _holding(engine, fragment, rival, blocked_s=blocked_s, is_holder=lambda: _on(holder)):
        holder.thread.start()
        holder.thread.join(timeout=60)
    return holder, rival


def held_in_request(
    engine: Engine,
    send: Callable[[], T],
    *,
    fragment: str,
    rival: Callable[[Session], object],
    blocked_s: float,
) -> tuple[T, Worker]:
    """`send` (a request through a TestClient, whose handler runs on a thread of the server's) held just
    after the handler ran a statement containing `fragment` until `rival` (its own transaction and
    thread) has committed, or has waited `blocked_s` on a lock the request holds. Returns the answer
    and the rival's worker, joined."""
    other = Worker(in_transaction(engine, rival))
    with _holding(engine, fragment, other, blocked_s=blocked_s, is_holder=lambda: not _on(other)):
        answer = send()
    return answer, other


def in_transaction(engine: Engine, change: Callable[[Session], object]) -> Callable[[], None]:
    """`change` run in a transaction of its own."""

    def run() -> None:
        with session_scope(engine) as session:
            change(session)

    return run


def _on(worker: Worker) -> bool:
    return threading.get_ident() == worker.thread.ident


@contextmanager
def _holding(
    engine: Engine, fragment: str, rival: Worker, *, blocked_s: float, is_holder: Callable[[], bool]
) -> Iterator[None]:
    """While open: the first statement containing `fragment` that a thread for which `is_holder()` is
    true runs starts `rival` and waits for it up to `blocked_s` before its thread goes on. On exit the
    rival is joined, and the statement must have been seen."""
    held = threading.Event()

    def hold(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if fragment in statement and not held.is_set() and is_holder():
            held.set()
            rival.thread.start()
            rival.thread.join(timeout=blocked_s)

    event.listen(engine, "after_cursor_execute", hold)
    try:
        yield
        if held.is_set():
            rival.thread.join(timeout=60)
    finally:
        event.remove(engine, "after_cursor_execute", hold)
    assert held.is_set(), f"no statement with {fragment!r}"


def raised_within(operation: Callable[[], object], *, hang_s: float) -> Exception | None:
    """What `operation`, run in a thread, raised (None if it returned); fails if it has not returned after
    `hang_s` (a hang detector, not a speed claim)."""
    raised: list[Exception] = []

    def run() -> None:
        try:
            operation()
        except Exception as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, name="test-hang-detector", daemon=True)
    thread.start()
    thread.join(timeout=hang_s)
    assert not thread.is_alive(), f"still running after {hang_s:.0f} s: it hangs"
    return raised[0] if raised else None


@contextmanager
def held_by_another_session(database_url: str, statement: str) -> Iterator[int]:
    """`statement` (a LOCK TABLE, a SELECT ... FOR UPDATE) run in an open transaction of a psycopg connection
    of its own, as an operator's psql would: its locks are held until the block ends; yields its backend
    pid."""
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as holder:
        holder.execute(statement)
        try:
            yield int(holder.info.backend_pid)
        finally:
            holder.rollback()
