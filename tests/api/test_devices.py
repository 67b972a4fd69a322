"""/devices: a device key registers its public key, syncs its doors' gallery sealed to it, posts events."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.routes.devices import MAX_WAIT_S
from gate import ApiGallerySource, ApiGallerySourceConfig, UnknownDoor, held_templates
from storage import (
    MAX_DB_INT,
    EventFilter,
    Role,
    bind_device_doors,
    bump_gallery_version,
    create_backup,
    create_person,
    create_schema,
    delete_template,
    device_doors,
    generate_device_key_pair,
    make_engine,
    open_device_sync,
    query_events,
    restore_backup,
    session_scope,
    store_template,
)
from tests.api.conftest import ApiHarness
from tests.api.console_browser import serving
from tests.gate.edge_support import wait_for
from tests.gate.journal_support import sample_event
from tests.storage.audit_helpers import audited_by

PAIR = generate_device_key_pair()
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _device_id(api: ApiHarness) -> str:
    return api.tokens[Role.device].split("_")[1]


def _register(api: ApiHarness, pair=PAIR) -> dict:
    body = {"x25519_public_key": base64.b64encode(pair.public_key).decode()}
    response = api.client.post("/devices/register", json=body, headers=api.auth(Role.device))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _sync(api: ApiHarness, *, version=None, have=(), wait_s=0.0) -> tuple[int, dict | None]:
    body = {"model_id": api.services.recognizer.model_id, "version": version, "template_ids": list(have)}
    response = api.client.post(
        "/devices/gallery", json={**body, "wait_s": wait_s}, headers=api.auth(Role.device)
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    if answer["sealed_gallery"] is None:
        return answer["version"], None
    sealed = base64.b64decode(answer["sealed_gallery"])
    payload = open_device_sync(
        PAIR.private_key, key_id=_device_id(api), version=answer["version"], sealed=sealed
    )
    return answer["version"], payload


def _enroll(api: ApiHarness, name: str, photo: bytes) -> int:
    person = api.create_person(name)
    files = [("photos", (f"{name}.jpg", photo, "image/jpeg"))]
    response = api.client.post(f"/people/{person}/faces", files=files, headers=api.auth(Role.admin))
    assert response.status_code == 201, response.text
    return person


def test_only_device_keys_use_the_device_routes(api: ApiHarness) -> None:
    body = {"x25519_public_key": base64.b64encode(PAIR.public_key).decode()}
    for role in (Role.admin, Role.auditor):
        assert api.client.post("/devices/register", json=body, headers=api.auth(role)).status_code == 403
    assert api.client.post("/devices/register", json=body).status_code == 401
    for wrong in (b"x" * 31 + b"yyy", b"x" * 40):  # 34 and 40 bytes: base64 fine, not an X25519 key
        bad = {"x25519_public_key": base64.b64encode(wrong).decode()}
        response = api.client.post("/devices/register", json=bad, headers=api.auth(Role.device))
        assert response.status_code == 422 and "32 bytes" in response.text, response.text
    not_base64 = {"x25519_public_key": "!" * 44}
    assert (
        api.client.post("/devices/register", json=not_base64, headers=api.auth(Role.device)).status_code
        == 422
    )
    assert _register(api)["token_id"] == _device_id(api)
    assert _register(api)["token_id"] == _device_id(api)  # the same key again: a no-op
    other = {"x25519_public_key": base64.b64encode(generate_device_key_pair().public_key).decode()}
    assert api.client.post("/devices/register", json=other, headers=api.auth(Role.device)).status_code == 409


def test_the_gallery_holds_only_people_the_devices_door_admits(api: ApiHarness, group_faces) -> None:
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    _register(api)
    ann, bob = _enroll(api, "Ann", group_faces[0]), _enroll(api, "Bob", group_faces[1])
    version, payload = _sync(api)
    assert {person for _, person, _ in payload["added"]} == {ann, bob}  # no rules at the lab yet: everyone
    admin = api.auth(Role.admin)
    group = api.client.post("/access/groups", json={"name": "lab staff"}, headers=admin).json()["id"]
    api.client.put(f"/access/groups/{group}/members/{ann}", headers=admin)
    rule = {"door": "lab", "group_id": group, "weekdays": ["mon"], "start": "08:00", "end": "18:00"}
    assert api.client.post("/access/rules", json=rule, headers=admin).status_code == 201
    have = [template for template, _, _ in payload["added"]]
    newer, delta = _sync(api, version=version, have=have)
    bob_templates = [template for template, person, _ in payload["added"] if person == bob]
    assert newer > version and delta["added"] == [] and delta["removed"] == bob_templates
    assert [w["person_ids"] for w in delta["doors"]["lab"]] == [[ann]]


def test_a_waiting_sync_answers_when_the_gallery_changes(api: ApiHarness, group_faces) -> None:
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    _register(api)
    version, _ = _sync(api)
    assert _sync(api, version=version, wait_s=0.2) == (version, None)  # nothing changed
    enrolled: list[int] = []
    writer = threading.Timer(0.5, lambda: enrolled.append(_enroll(api, "Ann", group_faces[0])))
    writer.start()
    started_s = time.monotonic()
    newer, delta = _sync(api, version=version, wait_s=MAX_WAIT_S)
    waited_s = time.monotonic() - started_s
    writer.join()
    assert newer > version and {person for _, person, _ in delta["added"]} == set(enrolled)
    # The change answered the waiting sync, not the end of its wait (which also finds the change): a
    # mechanism check with the whole wait as its margin, not a speed claim (bench/edge_sync.py measures that).
    assert waited_s < MAX_WAIT_S / 2


def test_events_land_once_and_only_for_the_devices_doors(api: ApiHarness) -> None:
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["front"], create_doors=True)
    events = [
        sample_event(track).model_copy(update={"event_uid": str(uuid.uuid4())}).model_dump(mode="json")
        for track in (1, 2, 3)
    ]

    def post(batch: list[dict]):
        return api.client.post("/devices/events", json={"events": batch}, headers=api.auth(Role.device))

    assert post(events[:2]).json() == {"inserted": 2}
    assert post(events).json() == {"inserted": 1}  # a redelivered batch: only the new event lands
    assert post([{**events[0], "door": "back"}]).status_code == 403
    assert post([{k: v for k, v in events[0].items() if k != "event_uid"}]).status_code == 422
    own_event = {**events[0], "decision": "recorded", "event_uid": str(uuid.uuid4())}
    assert post([own_event]).status_code == 422  # only the audit log itself records its own events
    with session_scope(api.services.engine) as session:
        stored, total = query_events(session, where=EventFilter(door="front"))
    assert total == 3 and sorted(e.track_id for e in stored) == [1, 2, 3]


def test_a_device_naming_the_largest_person_id_leaves_people_creatable_after_a_restore(
    api: ApiHarness, tmp_path: Path
) -> None:
    """The route takes any person id up to 2**31 - 1 (a gate's gallery may hold people the server has
    lost to a restore since): a restore counted it among the people's ids, so the next person created after
    it got 2**31 on SQLite, past the routes' bound on ids (PostgreSQL: none could be created)."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["front"], create_doors=True)
    ada = api.create_person("Ada")
    event = sample_event(2).model_copy(update={"person_id": MAX_DB_INT, "event_uid": str(uuid.uuid4())})
    posted = api.client.post(
        "/devices/events", json={"events": [event.model_dump(mode="json")]}, headers=api.auth(Role.device)
    )
    assert posted.json() == {"inserted": 1}, posted.text
    keyring = api.services.keyring
    files = create_backup(api.services.engine, tmp_path / "backup", master_keys=None, cipher=keyring)
    restored = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    create_schema(restored)

    restore_backup(restored, data=files.data, keys=files.keys, cipher=keyring)

    with session_scope(restored) as session:
        assert create_person(session, name="Bo").id == ada + 1
    restored.dispose()


def test_apikeys_create_binds_a_device_key_to_its_doors() -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        [
            "apikeys",
            "create",
            "--role",
            "device",
            "--label",
            "lab gate",
            "--door",
            "lab",
            "--door",
            "annex",
            "--create-doors",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "doors: annex, lab" in result.output
    result = runner.invoke(
        cli_app, ["apikeys", "create", "--role", "auditor", "--label", "x", "--door", "lab"]
    )
    assert result.exit_code != 0 and "device keys only" in result.output


def test_an_admin_creates_a_device_key_for_doors_over_http(api: ApiHarness) -> None:
    admin = api.auth(Role.admin)
    body = {"role": "device", "label": "annex gate", "doors": ["annex"], "create_doors": True}
    created = api.client.post("/api-keys", json=body, headers=admin)
    assert created.status_code == 201, created.text
    with session_scope(api.services.engine) as session:
        assert device_doors(session, created.json()["token_id"]) == ["annex"]
    refused = api.client.post("/api-keys", json={**body, "role": "auditor"}, headers=admin)
    assert refused.status_code == 422 and "not device" in refused.text


def _edge_gate(
    api: ApiHarness,
    url: str,
    home: Path,
    *,
    door: str,
    retry_max_s: float = 0.5,
    error_log_interval_s=30.0,
    monotonic: Callable[[], float] = time.monotonic,
    request_timeout_s: float = 10.0,
) -> ApiGallerySource:
    config = ApiGallerySourceConfig.model_validate(
        {
            "url": url,
            "api_key": api.tokens[Role.device],
            "long_poll_s": 0.0,
            "retry_max_s": retry_max_s,
            "request_timeout_s": request_timeout_s,
        }
    )
    return ApiGallerySource(
        config,
        door=door,
        home=home,
        recognizer=api.services.recognizer,
        max_stale_s=3600.0,
        monotonic=monotonic,
        error_log_interval_s=error_log_interval_s,
    )


def test_an_edge_gate_configured_with_a_renamed_doors_old_name_keeps_its_rules_and_events(
    api: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An edge gate holds a replicated copy of its doors under their names now: after a rename its old name
    was none of them, so it denied every face as gallery_unavailable and the API refused its events (403),
    which waited in its journal until it was reconfigured."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    admin = api.auth(Role.admin)
    ann, bob = api.create_person("Ann"), api.create_person("Bob")
    group = api.client.post("/access/groups", json={"name": "lab staff"}, headers=admin).json()["id"]
    api.client.put(f"/access/groups/{group}/members/{ann}", headers=admin)
    rule = {"door": "lab", "group_id": group, "weekdays": list(EVERY_DAY), "start": "00:00", "end": "24:00"}
    assert api.client.post("/access/rules", json=rule, headers=admin).status_code == 201
    [lab] = api.client.get("/doors", headers=admin).json()["items"]
    assert api.client.patch(f"/doors/{lab['id']}", json={"name": "lab 2"}, headers=admin).status_code == 200

    with serving(api.client.app) as url, caplog.at_level(logging.WARNING, logger="gate.access_policy"):
        gate = _edge_gate(api, url, tmp_path, door="lab")
        gate.start()
        try:
            wait_for(lambda: gate.version is not None, timeout_s=60.0, what="the first sync")
            policy = gate.access()
        finally:
            gate.close()
    assert not policy.is_open and policy.admits(ann, MONDAY_NOON) and not policy.admits(bob, MONDAY_NOON)
    assert "door lab was renamed to lab 2: this gate applies its rules under the former name" in caplog.text
    event = sample_event(1).model_copy(update={"door": "lab", "event_uid": str(uuid.uuid4())})
    posted = api.client.post(
        "/devices/events", json={"events": [event.model_dump(mode="json")]}, headers=api.auth(Role.device)
    )
    assert posted.status_code == 200 and posted.json() == {"inserted": 1}, posted.text

    # The sealed cache keeps the former names: a restart during an API outage finds the door by its old
    # name, and a name no door of the device ever had denies every face as unknown_door.
    for door, expected in (("lab", None), ("nowhere", "none of this device key's doors \\['lab 2'\\]")):
        restarted = _edge_gate(api, "http://127.0.0.1:9", tmp_path, door=door)
        restarted.start()
        try:
            if expected is None:
                assert restarted.access().admits(ann, MONDAY_NOON)
            else:
                with pytest.raises(UnknownDoor, match=expected):
                    restarted.access()
        finally:
            restarted.close()


SYNC_LINE = re.compile(r"gallery sync (failed|still failing|works again)")
STILL_FAILING = re.compile(r"gallery sync still failing: (\d+) attempts failed in the last \d+ s")
"""The span is the time since the last line: the 1 s interval, or up to the next retry past it (1.5 s: 2)."""


def _failed_attempts(records: list[logging.LogRecord]) -> int:
    """Attempts failed so far by the log: the first line's one and each count line's."""
    counted = (STILL_FAILING.fullmatch(r.getMessage()) for r in records)
    return sum(1 for r in records if r.getMessage().startswith("gallery sync failed (")) + sum(
        int(m[1]) for m in counted if m is not None
    )


def test_an_edge_sync_that_keeps_failing_is_logged_with_one_traceback_then_counted_not_per_retry(
    api: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A template that is not a vector of the model's width (a broken import) fails every sync of an edge
    gate as it builds its gallery: the sync loop logged 'gallery sync failed' with a traceback at every
    retry (up to one per retry_max_s, 10 s by default: 360 an hour). Deleting the template ends it."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    ann = api.create_person("Ann")
    with session_scope(api.services.engine) as session:
        broken = store_template(
            session,
            api.services.keyring,
            person_id=ann,
            model_id=api.services.recognizer.model_id,
            plaintext=bytes(12),  # three float32s: no vector of this model
            source_name="import",
        ).id
        bump_gallery_version(session)

    with serving(api.client.app) as url, caplog.at_level(logging.INFO, logger="gate.edge"):
        gate = _edge_gate(api, url, tmp_path, door="lab", retry_max_s=0.05, error_log_interval_s=1.0)
        gate.start()
        try:
            # At least 10 attempts, however loaded the machine (about 20 a second unloaded).
            wait_for(lambda: _failed_attempts(caplog.records) >= 10, timeout_s=60.0, what="10 failed syncs")
            with session_scope(api.services.engine) as session:
                delete_template(
                    session, person_id=ann, template_id=broken, erased_by=audited_by(api.services.keyring)
                )
            wait_for(lambda: gate.version is not None, timeout_s=60.0, what="a sync after the repair")
        finally:
            gate.close()
    lines = [
        (r.levelno, r.exc_info is not None, r.getMessage())
        for r in caplog.records
        if SYNC_LINE.match(r.getMessage())
    ]
    assert sum(r.exc_info is not None for r in caplog.records if r.name == "gate.edge") == 1, len(lines)
    first, *counts, ended = lines
    assert first[:2] == (logging.ERROR, True)
    assert first[2].startswith("gallery sync failed (IndexStateError: "), first
    assert first[2].endswith("; retrying with backoff; the gate decides on no gallery")
    assert all(level == logging.WARNING and not traced for level, traced, _ in [*counts, ended])
    assert counts and all(STILL_FAILING.fullmatch(m) for *_, m in counts)
    failed = re.fullmatch(r"gallery sync works again after [\d.]+ s \((\d+) attempts failed\)", ended[2])
    assert failed is not None, ended
    # Every attempt counted, and a count line at most once a second (its interval), not one per retry.
    count_times = [r.created for r in caplog.records if STILL_FAILING.fullmatch(r.getMessage())]
    assert int(failed[1]) >= 10 and all(b - a >= 0.9 for a, b in pairwise(count_times)), lines


_MODES_SEEN: dict[str, list[int]] = {}
"""Watched path → its mode at each chmod or rename of it (the audit hook below); empty: the hook is idle."""


def _record_modes(event: str, args: tuple[object, ...]) -> None:
    """Python's audit events name a file just before it is chmod'ed or renamed, and it exists then."""
    if not _MODES_SEEN or event not in ("os.chmod", "os.rename"):
        return
    if not isinstance(args[0], str | os.PathLike):
        return
    seen = _MODES_SEEN.get(os.fspath(args[0]))
    if seen is not None:
        with contextlib.suppress(OSError):
            seen.append(stat.S_IMODE(os.stat(args[0]).st_mode))


_AUDIT_HOOK = [False]  # an audit hook cannot be removed: added once for the process, idle outside the test


def test_the_sealed_cache_is_never_open_to_others_under_a_permissive_umask(
    api: ApiHarness, tmp_path: Path
) -> None:
    """The cache's temporary file was written with the umask's mode (0644 under 022) and chmod'ed to 0600
    after, so for a moment every local user could open it; now it is created 0600. A temporary left by a
    crash (here 0644) is replaced, not written into. The moment is observed through Python's audit events:
    the file's mode when it is chmod'ed (the old way) or renamed into place (the first write and, after a
    gallery change, a second one with no stale file)."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    stale = tmp_path / "device" / "gallery.tmp"
    stale.parent.mkdir(mode=0o700)
    stale.write_bytes(b"left by a crash")
    stale.chmod(0o644)
    if not _AUDIT_HOOK[0]:
        sys.addaudithook(_record_modes)
        _AUDIT_HOOK[0] = True
    _MODES_SEEN[str(stale)] = []
    former = os.umask(0o022)
    try:
        with serving(api.client.app) as url:
            gate = _edge_gate(api, url, tmp_path, door="lab")
            gate.start()
            try:
                cache = tmp_path / "device" / "gallery.sealed"
                wait_for(cache.exists, timeout_s=60.0, what="the cache")
                with session_scope(api.services.engine) as session:  # a second write, with no stale file
                    bump_gallery_version(session)
                wait_for(lambda: len(_MODES_SEEN[str(stale)]) >= 2, timeout_s=60.0, what="the cache again")
            finally:
                gate.close()
    finally:
        os.umask(former)
        seen = _MODES_SEEN.pop(str(stale))
    assert [f"{mode:o}" for mode in seen] == ["600", "600"]  # at its two renames; no chmod, no other mode
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert not stale.exists() and held_templates(tmp_path / "device") == gate.template_person_ids


def test_a_sealed_cache_that_cannot_be_written_is_no_sync_failure(
    api: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cache is written after the new gallery is installed: a write that failed (a full disk, a read-only
    mount; here a directory in its place) was logged as 'gallery sync failed' with a traceback at every
    change, and a cache that could not be read stopped the gate at start. Both are now one line each."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    blocker = tmp_path / "device" / "gallery.sealed"
    blocker.mkdir(parents=True)

    with serving(api.client.app) as url, caplog.at_level(logging.INFO, logger="gate.edge"):
        gate = _edge_gate(api, url, tmp_path, door="lab")
        gate.start()
        try:
            wait_for(lambda: gate.version is not None, timeout_s=60.0, what="the first sync")
            blocker.rmdir()
            with session_scope(api.services.engine) as session:
                bump_gallery_version(session)
            wait_for(lambda: "written again" in caplog.text, timeout_s=60.0, what="the cache written")
        finally:
            gate.close()
    lines = [
        (r.levelno, r.exc_info is not None, r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith("sealed gallery cache ")
    ]
    unusable, not_written, written = lines
    assert unusable[:2] == (logging.ERROR, False) and "unusable (" in unusable[2]
    assert not_written[:2] == (logging.ERROR, False)
    assert not_written[2].startswith(f"sealed gallery cache {blocker} not written (IsADirectoryError: ")
    assert re.fullmatch(
        rf"sealed gallery cache {blocker} written again after [\d.]+ s \(1 writes failed\)", written[2]
    )
    assert not any("gallery sync failed" in r.getMessage() for r in caplog.records)
    assert gate.version is not None and held_templates(tmp_path / "device") == gate.template_person_ids
