"""A writer's batch of events sent twice at once, as an edge gate's retry that the load balancer hands to a
second API server while the first still appends it: stored once, and both senders are answered."""

from __future__ import annotations

import uuid

from storage import Engine, Keyring, Session, append_new_events, session_scope
from tests.concurrency import held_after
from tests.storage.audit_helpers import event, verify


def test_the_same_batch_appended_by_two_servers_at_once_is_stored_once(
    engine: Engine, keyring: Keyring
) -> None:
    """The second append looked up the batch's event ids before the first had committed, then waited for
    the chain head and inserted them again: a unique violation (409 to the gate, which retried later)."""
    with session_scope(engine) as session:
        append_new_events(session, keyring, [event(0).model_copy(update={"event_uid": str(uuid.uuid4())})])
    batch = [event(i).model_copy(update={"event_uid": str(uuid.uuid4())}) for i in range(1, 4)]
    inserted: list[int] = []

    def append(session: Session) -> None:
        inserted.append(append_new_events(session, keyring, batch))

    first, second = held_after(
        engine,
        append,
        fragment="INSERT INTO audit_event ",  # the first server's events written, the chain head held
        second=append,
        blocked_s=5.0,  # a bound on the wait for the head the first holds, not a speed claim
    )

    assert first.errors == [] and second.errors == []
    assert sorted(inserted) == [0, 3]
    report = verify(engine, keyring)
    assert report.is_ok and report.events_checked == 4
