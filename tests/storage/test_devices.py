"""Device keys: their doors, their public key, and a gallery sync holding only admitted people."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from storage import (
    Conflict,
    DoorRuleCreate,
    InvalidDevice,
    NotFound,
    Role,
    add_member,
    bind_device_doors,
    create_api_key,
    create_door_rule,
    create_group,
    create_person,
    delete_person,
    device_sync,
    generate_device_key_pair,
    open_device_sync,
    register_device,
    session_scope,
    store_template,
)
from tests.concurrency import both_check_before_either_commits
from tests.storage.audit_helpers import audited_by

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
WAIT_S = 60.0  # generous: the shared machine is heavily loaded
MODEL = "test-model"


def _token_id(token: str) -> str:
    return token.split("_")[1]


@pytest.fixture
def site(engine, keyring):
    """Ann (lab group, admitted at `lab`), Bob (no group), a device key for `lab`, one for `lobby`."""
    with session_scope(engine) as session:
        people = {}
        for name in ("Ann", "Bob"):
            person = create_person(session, name=name)
            assert person.id is not None
            people[name] = person.id
            store_template(
                session,
                keyring,
                person_id=person.id,
                model_id=MODEL,
                plaintext=os.urandom(16),
                source_name="x",
            )
        group = create_group(session, name="lab staff")
        add_member(session, group_id=group.id, person_id=people["Ann"])
        rule = DoorRuleCreate(
            door="lab", create_door=True, group_id=group.id, weekdays=["mon"], start="08:00", end="18:00"
        )
        create_door_rule(session, rule)
        keys = {}
        for door in ("lab", "lobby"):
            token, _ = create_api_key(session, role=Role.device, label=door, now=NOW)
            keys[door] = _token_id(token)
            bind_device_doors(session, key_id=keys[door], doors=[door], create_doors=True)
    pairs = {door: generate_device_key_pair() for door in keys}
    with session_scope(engine) as session:
        for door, key_id in keys.items():
            register_device(session, key_id=key_id, public_key=pairs[door].public_key, now=NOW)
    return people, keys, pairs


def _sync(engine, keyring, key_id, pair, *, version=None, have=()):
    with session_scope(engine) as session:
        answer = device_sync(
            session, keyring, key_id=key_id, model_id=MODEL, known_version=version, known_template_ids=have
        )
    if answer.sealed is None:
        return answer.version, None
    payload = open_device_sync(pair.private_key, key_id=key_id, version=answer.version, sealed=answer.sealed)
    return answer.version, payload


def test_a_device_gets_only_the_people_its_doors_admit_sealed_to_it(engine, keyring, site) -> None:
    people, keys, pairs = site
    _, lab = _sync(engine, keyring, keys["lab"], pairs["lab"])
    assert {person for _, person, _ in lab["added"]} == {people["Ann"]}
    assert [w["person_ids"] for w in lab["doors"]["lab"]] == [[people["Ann"]]]
    _, lobby = _sync(engine, keyring, keys["lobby"], pairs["lobby"])  # no rules at the lobby: everyone
    assert {person for _, person, _ in lobby["added"]} == {people["Ann"], people["Bob"]}
    assert lobby["doors"] == {"lobby": []}


def test_syncs_are_deltas_and_an_erasure_is_a_removal(engine, keyring, site) -> None:
    people, keys, pairs = site
    version, first = _sync(engine, keyring, keys["lobby"], pairs["lobby"])
    have = [template_id for template_id, _, _ in first["added"]]
    assert _sync(engine, keyring, keys["lobby"], pairs["lobby"], version=version, have=have) == (
        version,
        None,
    )
    with session_scope(engine) as session:
        delete_person(session, people["Bob"], erased_by=audited_by(keyring))
    newer, delta = _sync(engine, keyring, keys["lobby"], pairs["lobby"], version=version, have=have)
    assert newer > version and delta["added"] == []
    bob_templates = [t for t, person, _ in first["added"] if person == people["Bob"]]
    assert delta["removed"] == bob_templates


def test_an_answer_opens_only_for_its_device(engine, keyring, site) -> None:
    _, keys, pairs = site
    with session_scope(engine) as session:
        answer = device_sync(
            session, keyring, key_id=keys["lab"], model_id=MODEL, known_version=None, known_template_ids=[]
        )
    assert answer.sealed is not None
    with pytest.raises(Exception, match="does not open"):
        open_device_sync(
            pairs["lobby"].private_key, key_id=keys["lab"], version=answer.version, sealed=answer.sealed
        )


def test_registration_rules(engine, site) -> None:
    _, keys, pairs = site
    with session_scope(engine) as session:
        again = register_device(session, key_id=keys["lab"], public_key=pairs["lab"].public_key, now=NOW)
        assert again.doors == ["lab"]
        with pytest.raises(Conflict):
            register_device(session, key_id=keys["lab"], public_key=pairs["lobby"].public_key, now=NOW)
        with pytest.raises(InvalidDevice):
            register_device(session, key_id=keys["lab"], public_key=b"short", now=NOW)
        admin, _ = create_api_key(session, role=Role.admin, label="admin", now=NOW)
        with pytest.raises(InvalidDevice):
            bind_device_doors(session, key_id=_token_id(admin), doors=["lab"])
        with pytest.raises(NotFound):
            bind_device_doors(session, key_id="0" * 16, doors=["lab"])


def _new_device_key(engine) -> str:
    with session_scope(engine) as session:
        token, _ = create_api_key(session, role=Role.device, label="new", now=NOW)
        bind_device_doors(session, key_id=_token_id(token), doors=["lab"], create_doors=True)
    return _token_id(token)


def test_two_registrations_of_one_device_at_once_both_get_it(engine) -> None:
    """A device resending its registration (the first answer lost) while the first is uncommitted: the
    later insert waits, does nothing, and reads the first's row instead of failing on the key."""
    key_id, public_key = _new_device_key(engine), generate_device_key_pair().public_key
    answers = []

    def register(session) -> None:
        answers.append(register_device(session, key_id=key_id, public_key=public_key, now=NOW))

    workers = both_check_before_either_commits(
        engine, register, fragment="INSERT INTO device", is_after=False, wait_s=WAIT_S
    )

    assert [worker.errors for worker in workers] == [[], []]
    assert len(answers) == 2 and answers[0] == answers[1] and answers[0].doors == ["lab"]


def test_two_devices_registering_one_key_at_once_the_later_is_told_to_get_a_new_key(engine) -> None:
    """Two public keys for one device key at once: the later gets the domain's Conflict, not the index's."""
    key_id = _new_device_key(engine)
    pairs = iter([generate_device_key_pair().public_key, generate_device_key_pair().public_key])

    def register(session) -> None:
        register_device(session, key_id=key_id, public_key=next(pairs), now=NOW)

    first, second = both_check_before_either_commits(
        engine, register, fragment="INSERT INTO device", is_after=False, wait_s=WAIT_S
    )

    assert first.errors == [] and [type(error) for error in second.errors] == [Conflict]
    assert str(second.errors[0]) == f"device key {key_id} is registered with another public key"
