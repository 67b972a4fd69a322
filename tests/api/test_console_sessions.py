"""Console sessions and forms against what a browser or an attacker may send: CSRF on every form, text
that is not ASCII where a MAC is expected, expiry, the Secure flag, and no secret in the log."""

from __future__ import annotations

from storage import Role
from tests.api.conftest import ApiHarness
from tests.api.test_console import CSRF, sign_in

ADMIN, AUDITOR = Role.admin, Role.auditor


def test_a_non_ascii_login_csrf_token_is_refused_not_a_500(api: ApiHarness) -> None:
    """hmac.compare_digest raises TypeError for a str with a non-ASCII character: the sign-in form's token
    'é' was a 500 with a traceback, to anyone, without a key."""
    assert CSRF.search(api.client.get("/ui/login").text) is not None  # sets the sign-in form's cookie
    data = {"api_key": api.tokens[ADMIN], "csrf_token": "é"}
    response = api.client.post("/ui/login", data=data, follow_redirects=False)
    assert response.status_code == 403 and "The form expired" in response.text
    assert "fg_session" not in api.client.cookies


def test_a_session_cookie_with_a_non_ascii_signature_is_refused_not_a_500(api: ApiHarness) -> None:
    """A cookie naming a real key (key ids are not secret) whose signature is not ASCII was a 500."""
    sign_in(api.client, api.tokens[AUDITOR])
    key_id, expires, nonce, _signature = api.client.cookies["fg_session"].split(".")
    api.client.cookies.clear()
    forged = f"fg_session={key_id}.{expires}.{nonce}.é".encode()
    response = api.client.get("/ui/events", headers={"Cookie": forged}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
