"""The web console over HTTP (no browser): sessions, CSRF, roles per page, escaping, enrollment, CSV."""

from __future__ import annotations

import csv
import io
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from api.console import STATIC_PATH
from api.settings import ApiSettings
from storage import AuditEventCreate, Decision, Role, append_event, create_person, ensure_door, session_scope
from tests.api.conftest import ApiHarness
from tests.data import no_face_photos

ADMIN, AUDITOR, DEVICE = Role.admin, Role.auditor, Role.device
XSS_NAME = "<img src=x onerror=alert(1)>"

CONSOLE_ROLES: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/ui/login"): None,
    ("POST", "/ui/login"): None,
    ("POST", "/ui/logout"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/ui"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/ui/people"): frozenset({ADMIN}),
    ("POST", "/ui/people"): frozenset({ADMIN}),
    ("GET", "/ui/people/new"): frozenset({ADMIN}),
    ("GET", "/ui/people/lookalikes"): frozenset({ADMIN}),
    ("GET", "/ui/people/{person_id}"): frozenset({ADMIN}),
    ("POST", "/ui/people/{person_id}/photos"): frozenset({ADMIN}),
    ("POST", "/ui/people/{person_id}/rename"): frozenset({ADMIN}),
    ("POST", "/ui/people/{person_id}/templates/{template_id}/delete"): frozenset({ADMIN}),
    ("GET", "/ui/people/{person_id}/delete"): frozenset({ADMIN}),
    ("POST", "/ui/people/{person_id}/delete"): frozenset({ADMIN}),
    ("GET", "/ui/people/{person_id}/export.json"): frozenset({ADMIN}),
    ("GET", "/ui/access"): frozenset({ADMIN}),
    ("POST", "/ui/access/groups"): frozenset({ADMIN}),
    ("POST", "/ui/access/groups/{group_id}/delete"): frozenset({ADMIN}),
    ("POST", "/ui/access/groups/{group_id}/members"): frozenset({ADMIN}),
    ("POST", "/ui/access/groups/{group_id}/members/{person_id}/delete"): frozenset({ADMIN}),
    ("POST", "/ui/access/doors"): frozenset({ADMIN}),
    ("POST", "/ui/access/doors/{door_id}/rename"): frozenset({ADMIN}),
    ("POST", "/ui/access/doors/{door_id}/forget-name"): frozenset({ADMIN}),
    ("POST", "/ui/access/rules"): frozenset({ADMIN}),
    ("POST", "/ui/access/rules/{rule_id}/delete"): frozenset({ADMIN}),
    ("GET", "/ui/events"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/ui/events/rows"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/ui/events/export.csv"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/ui/integrity"): frozenset({ADMIN, AUDITOR}),
    ("POST", "/ui/integrity/verify"): frozenset({ADMIN, AUDITOR}),
    ("POST", "/ui/integrity/checkpoint"): frozenset({ADMIN, AUDITOR}),
    ("POST", "/ui/integrity/verify-since"): frozenset({ADMIN, AUDITOR}),
    ("POST", "/ui/integrity/reanchor"): frozenset({ADMIN}),
    ("GET", "/ui/keys"): frozenset({ADMIN}),
    ("POST", "/ui/keys"): frozenset({ADMIN}),
    ("POST", "/ui/keys/{token_id}/revoke"): frozenset({ADMIN}),
    ("GET", "/ui/system"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/ui/docs"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/ui/openapi.json"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/ui/docs/assets/{name}"): frozenset({ADMIN, AUDITOR}),
}
"""Who may open each console route; None: the sign-in form, open to everyone."""

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: httpx.Client, token: str) -> str:
    """Sign in through the form (a TestClient, or an HTTP client of a served app); returns the session's
    CSRF token."""
    client.cookies.clear()
    form = client.get("/ui/login")
    login_csrf = CSRF.search(form.text)
    assert login_csrf is not None
    response = client.post(
        "/ui/login", data={"api_key": token, "csrf_token": login_csrf[1]}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    token_match = CSRF.search(page.text)
    assert token_match is not None
    return token_match[1]


def _console_routes(api: ApiHarness) -> set[tuple[str, str]]:
    found = set()
    for context in iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        if isinstance(context.original_route, APIRoute) and context.path.startswith("/ui"):
            found.update((method, context.path) for method in context.methods or ())
    return found


def test_every_console_route_is_in_the_role_table_and_static_files_are_mounted(api: ApiHarness) -> None:
    assert _console_routes(api) == set(CONSOLE_ROLES)
    contexts = iter_route_contexts(api.client.app.routes)  # type: ignore[attr-defined]
    assert [c.original_route.path for c in contexts if isinstance(c.original_route, Mount)] == [STATIC_PATH]
    assert "getUserMedia" in api.client.get(f"{STATIC_PATH}/console.js").text


def _fill(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "987654", path)


FORM = {
    "name": "x",
    "person_id": "987654",
    "group_id": "987654",
    "door": "d",
    "start": "08:00",
    "end": "09:00",
}
"""Every field a console form has (each form reads its own), so that only the role decides."""


def _request(client: TestClient, method: str, path: str, csrf: str | None) -> Any:
    if method == "GET":
        return client.get(_fill(path), follow_redirects=False)
    data = {**FORM, "role": "auditor", "label": "x"} | ({"csrf_token": csrf} if csrf else {})
    files = (
        [("photos", ("a.jpg", b"not an image", "image/jpeg"))]
        if path.endswith(("people", "photos"))
        else None
    )
    return client.post(_fill(path), data=data, files=files, follow_redirects=False)


@pytest.mark.parametrize(("method", "path"), sorted(CONSOLE_ROLES), ids=str)
def test_console_role_matrix(api: ApiHarness, method: str, path: str) -> None:
    roles = CONSOLE_ROLES[(method, path)]
    if roles is None:
        return
    api.client.cookies.clear()
    anonymous = _request(api.client, method, path, None)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/ui/login"
    for role in (ADMIN, AUDITOR):
        response = _request(api.client, method, path, sign_in(api.client, api.tokens[role]))
        if role in roles:
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert "needs the role" in response.text


def test_every_console_form_refuses_a_post_without_its_session_csrf_token(api: ApiHarness) -> None:
    """A cross-site form post carries the admin's cookie but not the session's token: every POST route of
    the console (the role table lists them all) refuses it, with no token and with another session's."""
    foreign = sign_in(api.client, api.tokens[ADMIN])
    sign_in(api.client, api.tokens[ADMIN])  # a new session: `foreign` is the token of the one before
    before = api.state()
    posts = sorted(route for route, roles in CONSOLE_ROLES.items() if route[0] == "POST" and roles)
    for method, path in posts:
        for csrf in (None, foreign):
            response = _request(api.client, method, path, csrf)
            assert response.status_code == 403 and "out of date" in response.text, (path, csrf)
    assert api.state() == before
    assert api.client.get("/ui/keys", follow_redirects=False).status_code == 200  # not signed out


def test_sign_in_cookie_is_httponly_strict_and_expires(api: ApiHarness) -> None:
    form = api.client.get("/ui/login")
    login_csrf = CSRF.search(form.text)
    assert login_csrf is not None
    response = api.client.post(
        "/ui/login",
        data={"api_key": api.tokens[AUDITOR], "csrf_token": login_csrf[1]},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/ui/events"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("fg_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    assert api.tokens[AUDITOR].split("_", 2)[2] not in cookie  # the key's secret never goes into the cookie


@pytest.mark.parametrize(
    ("token_of", "csrf_ok", "status", "message"),
    [
        pytest.param(None, True, 401, "not valid", id="wrong-key"),
        pytest.param(DEVICE, True, 401, "Device keys cannot", id="device-key"),
        pytest.param(ADMIN, False, 403, "expired", id="no-login-csrf"),
    ],
)
def test_refused_sign_ins_start_no_session(
    api: ApiHarness, token_of: Role | None, csrf_ok: bool, status: int, message: str
) -> None:
    form = api.client.get("/ui/login")
    login_csrf = CSRF.search(form.text)
    assert login_csrf is not None
    token = api.tokens[token_of] if token_of else "fg_0000000000000000_wrong"
    data = {"api_key": token, "csrf_token": login_csrf[1] if csrf_ok else "forged"}
    response = api.client.post("/ui/login", data=data, follow_redirects=False)
    assert response.status_code == status and message in response.text
    assert "fg_session" not in api.client.cookies


def test_an_admin_signs_in_from_an_address_whose_wrong_keys_got_429(api: ApiHarness) -> None:
    """Someone at the admin's address (an office NAT, a proxy) kept typing wrong keys: they get 429, the
    admin with the right key still gets in."""
    statuses = []
    for _ in range(ApiSettings().auth_max_failures + 1):
        form = api.client.get("/ui/login")
        login_csrf = CSRF.search(form.text)
        assert login_csrf is not None
        data = {"api_key": "fg_0000000000000000_wrong", "csrf_token": login_csrf[1]}
        statuses.append(api.client.post("/ui/login", data=data, follow_redirects=False).status_code)

    assert statuses[-2:] == [401, 429]
    sign_in(api.client, api.tokens[ADMIN])
    assert api.client.get("/ui/people").status_code == 200


def test_a_form_without_the_session_csrf_token_changes_nothing(api: ApiHarness) -> None:
    sign_in(api.client, api.tokens[ADMIN])
    for token in ("", "0" * 64):
        response = api.client.post("/ui/access/groups", data={"name": "staff", "csrf_token": token})
        assert response.status_code == 403 and "out of date" in response.text
    assert "staff" not in api.client.get("/ui/access").text


def test_a_tampered_or_foreign_session_cookie_is_refused(api: ApiHarness) -> None:
    sign_in(api.client, api.tokens[AUDITOR])
    cookie = api.client.cookies["fg_session"]
    key_id, expires, nonce, signature = cookie.split(".")
    admin_id = api.tokens[ADMIN].split("_")[1]
    for forged in (
        f"{admin_id}.{expires}.{nonce}.{signature}",
        f"{key_id}.{int(expires) + 9}.{nonce}.{signature}",
    ):
        api.client.cookies.clear()
        api.client.cookies.set("fg_session", forged)
        response = api.client.get("/ui/events", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"


def test_sign_out_ends_the_session(api: ApiHarness) -> None:
    csrf = sign_in(api.client, api.tokens[ADMIN])
    response = api.client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and "fg_session" not in api.client.cookies
    assert api.client.get("/ui/people", follow_redirects=False).status_code == 303


def test_a_copy_of_a_signed_out_cookie_is_refused(api: ApiHarness) -> None:
    csrf = sign_in(api.client, api.tokens[ADMIN])
    copied = api.client.cookies["fg_session"]
    api.client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
    api.client.cookies.set("fg_session", copied)
    response = api.client.get("/ui/people", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    sign_in(api.client, api.tokens[ADMIN])  # a new session of the same key is not affected
    assert api.client.get("/ui/people", follow_redirects=False).status_code == 200


def test_names_and_door_text_render_as_text(api: ApiHarness) -> None:
    with session_scope(api.services.engine) as session:
        person = create_person(session, name=XSS_NAME)
        ensure_door(session, name=XSS_NAME)
        append_event(
            session,
            api.services.keyring,
            AuditEventCreate(
                door=XSS_NAME, source="test", decision=Decision.granted, reason="match",
                person_id=person.id, model_id="m",
            ),
        )  # fmt: skip
    sign_in(api.client, api.tokens[ADMIN])
    for page in ("/ui/people", f"/ui/people/{person.id}", "/ui/events", "/ui/system"):
        html = api.client.get(page).text
        assert XSS_NAME not in html, page
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, page


def test_enrollment_lists_each_photo_with_its_verdict_and_stores_nothing_on_refusal(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    csrf = sign_in(api.client, api.tokens[ADMIN])
    no_face = no_face_photos()[0]
    files = [
        ("photos", ("ada.jpg", group_faces[0], "image/jpeg")),
        ("photos", (no_face.name, no_face.read_bytes(), "image/jpeg")),
    ]
    refused = api.client.post("/ui/people", data={"name": "Ada", "csrf_token": csrf}, files=files)
    assert refused.status_code == 422
    assert re.search(r"ada\.jpg</span>:\s*usable", refused.text)
    assert re.search(
        rf"{re.escape(no_face.name)}</span>:\s*<strong>refused</strong> — no face found", refused.text
    )
    assert api.state().people == 0

    enrolled = api.client.post("/ui/people", data={"name": "Ada", "csrf_token": csrf}, files=files[:1])
    assert enrolled.status_code == 200 and "Enrolled 1 photo" in enrolled.text
    assert api.state().people == 1 and api.state().templates == 1


def test_photos_sent_under_one_name_each_get_their_own_verdict(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    # The verdicts were looked up by name: the good first image.jpg showed the second one's refusal.
    csrf = sign_in(api.client, api.tokens[ADMIN])
    files = [
        ("photos", ("image.jpg", group_faces[0], "image/jpeg")),
        ("photos", ("image.jpg", group_faces[0][:500], "image/jpeg")),
    ]
    refused = api.client.post("/ui/people", data={"name": "Ada", "csrf_token": csrf}, files=files)
    assert refused.status_code == 422
    assert re.search(r"image\.jpg \(photo 1\)</span>:\s*usable", refused.text)
    refusal = r"image\.jpg \(photo 2\)</span>:\s*<strong>refused</strong> — unreadable image"
    assert re.search(refusal, refused.text)
    assert api.state().people == 0


def test_csv_export_holds_exactly_the_filtered_events(api: ApiHarness) -> None:
    with session_scope(api.services.engine) as session:
        for door, decision in [
            ("front", Decision.denied),
            ("front", Decision.granted),
            ("back", Decision.denied),
        ]:
            append_event(
                session,
                api.services.keyring,
                AuditEventCreate(
                    door=door, source="t", decision=decision, reason="r", model_id="m", score=0.5
                ),
            )
    sign_in(api.client, api.tokens[AUDITOR])
    response = api.client.get("/ui/events/export.csv", params={"door": "front", "decision": "denied"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(row["door"], row["decision"], row["score"]) for row in rows] == [("front", "denied", "0.5")]


def test_key_created_in_the_console_is_shown_once_and_signs_in(api: ApiHarness) -> None:
    csrf = sign_in(api.client, api.tokens[ADMIN])
    created = api.client.post("/ui/keys", data={"role": "auditor", "label": "Ann", "csrf_token": csrf})
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    secret = re.search(r"data-new-secret>([^<]+)<", created.text)
    assert secret is not None
    assert "data-new-secret" not in api.client.get("/ui/keys").text
    sign_in(api.client, secret[1])
    assert api.client.get("/ui/people", follow_redirects=False).status_code == 403


def test_revoking_the_key_ends_its_console_session(api: ApiHarness) -> None:
    auditor = TestClient(api.client.app)
    sign_in(auditor, api.tokens[AUDITOR])
    assert auditor.get("/ui/events", follow_redirects=False).status_code == 200
    csrf = sign_in(api.client, api.tokens[ADMIN])
    token_id = api.tokens[AUDITOR].split("_")[1]
    revoked = api.client.post(f"/ui/keys/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 200 and 'class="revoked"' in revoked.text
    response = auditor.get("/ui/events", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"


def test_a_key_valid_through_a_past_day_is_refused(api: ApiHarness) -> None:
    csrf = sign_in(api.client, api.tokens[ADMIN])
    data = {"role": "device", "label": "old", "valid_through": "2020-01-01", "csrf_token": csrf}
    response = api.client.post("/ui/keys", data=data)
    assert response.status_code == 400 and "not in the future" in response.text


def test_every_console_asset_is_package_data() -> None:
    """A non-editable install must carry the templates and static files (pyproject's package-data)."""
    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    assets = [
        path.relative_to(root / "api").as_posix()
        for path in (root / "api" / "console").rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    ]
    assert assets and all(any(fnmatch(asset, pattern) for pattern in globs) for asset in assets)
