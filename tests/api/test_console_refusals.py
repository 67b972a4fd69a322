"""Console forms refused by the database (a concurrent duplicate, a deleted row, an aborted transaction):
the page says why inside itself, keeps what the user typed, and nothing is half stored."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import event

from api.app import create_app
from api.console.changes import Refusal, apply_change, refusal_of
from api.console.session import SESSION_COOKIE, SessionSigner
from api.settings import ApiSettings
from enrollment import GalleryLoadFailed
from storage import (
    Engine,
    Role,
    Session,
    create_door,
    create_group,
    end_console_session,
    erase_person,
    list_doors,
    list_groups,
    session_scope,
)
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.api.test_console import sign_in
from tests.concurrency import Worker, deadlocked_pair
from tests.storage.audit_helpers import audited_by

WAIT_S = 60.0  # generous: the shared machine is heavily loaded


def committed_while_inserting(
    engine: Engine, change: Callable[[Session], object], fragment: str, send: Callable[[], object]
) -> None:
    """`change` runs first and stays uncommitted until another thread, whose check found nothing, sends
    a statement containing `fragment`; then it commits and what `send` (the request, sent from this
    thread) inserts meets the database's unique index."""
    holder_done, other_inserting = threading.Event(), threading.Event()

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.get_ident() != holder.thread.ident and fragment in statement:
            other_inserting.set()

    def hold() -> None:
        with session_scope(engine) as session:
            change(session)
            holder_done.set()
            assert other_inserting.wait(timeout=WAIT_S)

    holder = Worker(hold)
    event.listen(engine, "before_cursor_execute", note)
    try:
        holder.thread.start()
        assert holder_done.wait(timeout=WAIT_S)
        send()
        holder.thread.join(timeout=WAIT_S)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert holder.errors == []


def _input_value(page: str, action: str) -> str | None:
    """The value of the name input in the form posting to `action`."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert form is not None, action
    value = re.search(r'<input name="name"[^>]*value="([^"]*)"', form[0])
    return None if value is None else value[1]


@pytest.mark.parametrize(
    ("path", "create", "fragment", "message"),
    [
        ("/ui/access/doors", create_door, "INSERT INTO door", "another door has the same name"),
        (
            "/ui/access/groups",
            create_group,
            "INSERT INTO access_group",
            "another access group has the same name",
        ),
    ],
    ids=["door", "group"],
)
def test_a_name_taken_at_once_elsewhere_is_refused_inside_the_access_page(
    api: ApiHarness, path: str, create: Callable[..., object], fragment: str, message: str
) -> None:
    """The form's name check runs before another admin's creation commits; the unique index refuses it."""
    csrf = sign_in(api.client, api.tokens[Role.admin])
    answers: list[Any] = []

    def send() -> None:
        answers.append(api.client.post(path, data={"name": "lab", "csrf_token": csrf}))

    committed_while_inserting(api.services.engine, lambda s: create(s, name="lab"), fragment, send)

    (answer,) = answers
    assert answer.status_code == 409 and answer.headers["content-type"].startswith("text/html"), answer.text
    assert re.search(rf'<p class="error" role="alert">{message}</p>', answer.text)
    assert _input_value(answer.text, path) == "lab"  # what the admin typed is still in the form
    assert "Sign out" in answer.text and csrf in answer.text  # still signed in, forms still usable
    with session_scope(api.services.engine) as session:
        assert [door.name for door in list_doors(session)] == (["lab"] if "door" in path else [])
        assert [group.name for group in list_groups(session)[0]] == (["lab"] if "group" in path else [])


def test_photos_for_a_person_erased_meanwhile_get_the_not_found_page(
    api: ApiHarness, enroll_person: Callable[..., int], group_faces: list[bytes]
) -> None:
    """Another admin erased the person after this page was opened: enrollment's NotFound is a page."""
    person_id = enroll_person("Dan", group_faces[0])
    csrf = sign_in(api.client, api.tokens[Role.admin])
    assert api.client.get(f"/ui/people/{person_id}").status_code == 200
    with session_scope(api.services.engine) as session:
        erase_person(session, person_id, erased_by=audited_by(api.services.keyring))

    files = [("photos", ("dan.jpg", group_faces[0], "image/jpeg"))]
    answer = api.client.post(f"/ui/people/{person_id}/photos", data={"csrf_token": csrf}, files=files)

    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html"), answer.text
    assert "Sign out" in answer.text
    assert api.state().people == 0 and api.state().templates == 0


def test_a_change_postgresql_aborts_for_a_deadlock_is_a_retryable_refusal(engine: Engine) -> None:
    """Two console changes lock two doors in opposite orders; the aborted one comes back as a refusal."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time through: it cannot deadlock")
    outcomes: list[object] = []

    def run(change: Callable[[Session], str]) -> None:
        with Session(engine) as request_session:
            outcomes.append(apply_change(request_session, change))

    workers = deadlocked_pair(engine, run, wait_s=WAIT_S)

    assert [worker.errors for worker in workers] == [[], []]
    assert sorted(outcomes, key=str) == [
        Refusal(
            "a concurrent change got in the way and nothing was stored; retry the request",
            status_code=503,
            retry_after_s=1,
        ),
        "committed",
    ]


def test_a_failed_gallery_load_is_refused_with_the_wait_its_backoff_has_left() -> None:
    refused = refusal_of(GalleryLoadFailed("the gallery could not be loaded", retry_after_s=17))
    assert refused == Refusal("the gallery could not be loaded", status_code=503, retry_after_s=17)


def test_in_a_browser_a_door_added_at_once_elsewhere_is_refused_in_the_page_with_the_name_kept(
    api: ApiHarness,
) -> None:
    """Headless Chromium on a real server: the admin's door meets another admin's, committed while the
    form's request inserted; the page says so where the form is, the name is still typed, the admin
    edits it and sends again."""
    engine = api.services.engine
    app = create_app(api.services, settings=ApiSettings())
    with console_page(app, api.tokens[Role.admin], "/ui/access") as page:
        page.get_by_label("New door").fill("lab")

        def send() -> None:
            page.get_by_role("button", name="Add door").click()
            page.wait_for_load_state()

        committed_while_inserting(engine, lambda s: create_door(s, name="lab"), "INSERT INTO door", send)

        expect(page.get_by_role("alert")).to_have_text("another door has the same name")
        expect(page.get_by_label("New door")).to_have_value("lab")
        expect(page.locator(".door h3")).to_have_text(["lab"])  # the other admin's door is listed
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        page.get_by_label("New door").fill("lab 2")
        page.get_by_role("button", name="Add door").click()
        expect(page.locator(".door h3")).to_have_text(["lab", "lab 2"])
        expect(page.get_by_role("alert")).to_have_count(0)
    with session_scope(engine) as session:
        assert [door.name for door in list_doors(session)] == ["lab", "lab 2"]


def test_signing_out_twice_at_once_ends_the_session_without_an_error(api: ApiHarness) -> None:
    """A double click on Sign out: both requests find the session not yet ended, and the later one's
    record of its end meets the earlier's (PostgreSQL: on SQLite the expired-sessions DELETE before the
    check already waits for the earlier to commit)."""
    if api.services.engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the sign-out's first write waits for the other, so its check sees the record")
    csrf = sign_in(api.client, api.tokens[Role.admin])
    signer: SessionSigner = api.client.app.state.console_signer  # type: ignore[attr-defined]
    claims = signer.claims(api.client.cookies[SESSION_COOKIE], now_s=time.time())
    assert claims is not None
    expires_at = datetime.fromtimestamp(claims.expires_at_s, UTC)
    answers: list[Any] = []

    def other_sign_out(session: Session) -> None:
        now = datetime.now(UTC)
        end_console_session(session, key_id=claims.key_id, nonce=claims.nonce, expires_at=expires_at, now=now)

    def send() -> None:
        answers.append(api.client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False))

    committed_while_inserting(api.services.engine, other_sign_out, "INSERT INTO ended_console_session", send)

    (answer,) = answers
    assert (answer.status_code, answer.headers.get("location")) == (303, "/ui/login"), answer.text
    assert SESSION_COOKIE not in api.client.cookies
