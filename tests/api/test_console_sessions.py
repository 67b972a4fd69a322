"""Console sessions and forms against what a browser or an attacker may send: CSRF on every form, text
that is not ASCII where a MAC is expected, expiry, the Secure flag, and no secret in the log."""

from __future__ import annotations

from http.client import HTTPConnection

from storage import Role
from tests.api.conftest import ApiHarness
from tests.api.console_browser import serving
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


def test_a_session_cookie_whose_expiry_is_a_superscript_digit_is_refused_not_a_500(api: ApiHarness) -> None:
    """'²' (byte 0xb2 of a header, Latin-1) is a digit to str.isdigit but not to int(): under uvicorn the
    cookie 'x.².n.s' was a 500 with a traceback, to anyone. (TestClient's client sends header text as
    UTF-8, so this needs a real server and a client that sends the byte.)"""
    with serving(api.client.app) as base_url:
        connection = HTTPConnection(base_url.removeprefix("http://"), timeout=30)
        connection.request("GET", "/ui/events", headers={"Cookie": "fg_session=x.\u00b2.n.s"})
        response = connection.getresponse()
        connection.close()
    assert response.status == 303 and response.getheader("location") == "/ui/login"


def test_a_session_cookie_whose_expiry_is_over_4300_digits_is_refused_not_a_500(api: ApiHarness) -> None:
    """int() refuses a string of more than 4300 digits (ValueError): such a cookie was a 500 too."""
    api.client.cookies.set("fg_session", f"x.{'9' * 5000}.n.s")
    response = api.client.get("/ui/events", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
