"""Console sessions against what a browser or an attacker may send: text that is not ASCII or not a number
where a MAC or an expiry is expected, an expired cookie, the Secure flag; no secret in the log."""

from __future__ import annotations

import logging
import time
from contextlib import closing
from datetime import UTC, datetime
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.console.session import SessionSigner
from api.settings import ApiSettings
from recognition import Recognizer
from storage import Engine, EventFilter, Keyring, Role, find_api_key, query_events, session_scope
from tests.api.conftest import ApiHarness, make_services, make_tokens
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
    response = api.client.get("/ui/events", headers={b"Cookie": forged}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"


def test_a_session_cookie_whose_expiry_is_a_superscript_digit_is_refused_not_a_500(api: ApiHarness) -> None:
    """'²' (byte 0xb2 of a header, Latin-1) is a digit to str.isdigit but not to int(): under uvicorn the
    cookie 'x.².n.s' was a 500 with a traceback, to anyone. (TestClient's client sends header text as
    UTF-8, so this needs a real server and a client that sends the byte.)"""
    with serving(api.client.app) as base_url:
        status, headers, _ = _http(
            base_url, "GET", "/ui/events", headers={"Cookie": "fg_session=x.\u00b2.n.s"}
        )
    assert status == 303 and ("location", "/ui/login") in [(k.lower(), v) for k, v in headers]


def test_a_session_cookie_whose_expiry_is_over_4300_digits_is_refused_not_a_500(api: ApiHarness) -> None:
    """int() refuses a string of more than 4300 digits (ValueError): such a cookie was a 500 too."""
    api.client.cookies.set("fg_session", f"x.{'9' * 5000}.n.s")
    response = api.client.get("/ui/events", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"


def _session_app(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> tuple[TestClient, str]:
    """A console whose session secret the test knows, and an admin token."""
    services = make_services(engine, keyring, recognizer)
    settings = ApiSettings(session_secret=SecretStr(SESSION_SECRET))
    return TestClient(create_app(services, settings=settings)), make_tokens(engine)[ADMIN]


SESSION_SECRET = "a console session secret of 32+ characters"


def test_a_session_cookie_past_its_expiry_is_refused(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    """A cookie signed with the server's secret for the right key, but past the expiry it carries."""
    client, admin = _session_app(engine, keyring, recognizer)
    key_id = admin.split("_")[1]
    with session_scope(engine) as session:
        key = find_api_key(session, key_id, now=datetime.now(UTC))
        assert key is not None
        digest = key.secret_sha256
    signer = SessionSigner(SESSION_SECRET.encode())
    with client:
        for started_s, status in ((time.time(), 200), (time.time() - 3600, 303)):
            cookie = signer.issue(key_id=key_id, key_digest=digest, now_s=started_s, lifetime_s=60)
            client.cookies.set("fg_session", cookie)
            assert client.get("/ui/people", follow_redirects=False).status_code == status


def _http(base_url: str, method: str, path: str, **request: Any) -> tuple[int, list[tuple[str, str]], str]:
    """One request with http.client, which sends header text as Latin-1 bytes: status, headers, body."""
    with closing(HTTPConnection(base_url.removeprefix("http://"), timeout=30)) as connection:
        connection.request(method, path, **request)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read().decode()


def test_the_session_cookie_is_secure_over_https_and_behind_a_local_tls_proxy(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    """`Secure` (and `__Host-`, Path=/) when the request came over HTTPS: to the app itself (TestClient),
    or, under uvicorn as `facegate serve` runs it, from a proxy on this host that says so in
    X-Forwarded-Proto."""
    client, admin = _session_app(engine, keyring, recognizer)
    secure = {}
    for base_url in ("http://testserver", "https://testserver"):
        with TestClient(client.app, base_url=base_url) as each:
            sign_in(each, admin)
            secure[base_url] = [
                (c.name, c.secure, c.path) for c in each.cookies.jar if "fg_session" in c.name
            ]
    assert secure == {
        "http://testserver": [("fg_session", False, "/ui")],
        "https://testserver": [("__Host-fg_session", True, "/")],
    }
    with serving(client.app) as base_url:
        _, headers, page = _http(base_url, "GET", "/ui/login", headers={"X-Forwarded-Proto": "https"})
        login_nonce = next(v for k, v in headers if k == "set-cookie" and v.startswith("__Host-fg_login="))
        login_csrf = CSRF.search(page)
        assert login_csrf is not None
        status, headers, _ = _http(
            base_url,
            "POST",
            "/ui/login",
            body=urlencode({"api_key": admin, "csrf_token": login_csrf[1]}),
            headers={
                "Cookie": login_nonce.split(";")[0],
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Forwarded-Proto": "https",
            },
        )
    session_cookie = next(v for k, v in headers if k == "set-cookie" and v.startswith("__Host-fg_session="))
    assert status == 303 and "; Secure" in session_cookie and "HttpOnly" in session_cookie
    assert "; Path=/;" in session_cookie and "domain" not in session_cookie.lower()


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """The response's Set-Cookie headers by cookie name, attributes in lower case."""
    headers = response.headers.get_list("set-cookie")
    return {header.split("=", 1)[0]: header.split("=", 1)[1].lower() for header in headers}


def test_over_https_the_session_cookie_is_a_host_cookie_and_a_plain_named_one_is_no_session(
    api: ApiHarness,
) -> None:
    """Over HTTPS the console's cookies are `__Host-` prefixed (Secure, Path=/, no Domain): a browser keeps
    such a cookie only from this very host over HTTPS, so a sibling subdomain cannot plant a session (or
    the sign-in form's nonce) as it can a plainly named cookie with Domain=.site, which the server would
    take for its own. A plainly named cookie holding a valid session is therefore refused over HTTPS;
    plain HTTP (development) keeps the plain name and Path=/ui."""
    admin = api.tokens[ADMIN]
    with TestClient(api.client.app, base_url="https://testserver") as client:
        form = client.get("/ui/login")
        assert _set_cookies(form).keys() == {"__Host-fg_login"}
        login_csrf = CSRF.search(form.text)
        assert login_csrf is not None
        data = {"api_key": admin, "csrf_token": login_csrf[1]}
        signed_in = client.post("/ui/login", data=data, follow_redirects=False)
        assert signed_in.status_code == 303, signed_in.text
        cookies = _set_cookies(signed_in)
        assert cookies.keys() == {"__Host-fg_session", "__Host-fg_login"}  # the form's nonce is deleted
        for attributes in cookies.values():
            assert "; secure" in attributes and "; path=/;" in attributes and "domain" not in attributes
        assert (
            "httponly" in cookies["__Host-fg_session"] and "samesite=strict" in cookies["__Host-fg_session"]
        )
        session = client.cookies["__Host-fg_session"]
        assert client.get("/ui/people", follow_redirects=False).status_code == 200

        client.cookies.clear()
        client.cookies.set("fg_session", session)  # as planted by a sibling subdomain
        refused = client.get("/ui/people", follow_redirects=False)
        assert refused.status_code == 303 and refused.headers["location"] == "/ui/login"

        signer: SessionSigner = client.app.state.console_signer  # type: ignore[attr-defined]
        client.cookies.clear()
        client.cookies.set("fg_login", "planted")  # a sign-in nonce (and its token) chosen by the planter
        data = {"api_key": admin, "csrf_token": signer.csrf_token("planted")}
        planted = client.post("/ui/login", data=data, follow_redirects=False)
        assert planted.status_code == 403 and "The form expired" in planted.text  # not read over HTTPS

        client.cookies.set("__Host-fg_session", session)
        csrf = CSRF.search(client.get("/ui/people").text)
        assert csrf is not None
        out = client.post("/ui/logout", data={"csrf_token": csrf[1]}, follow_redirects=False)
        deleted = _set_cookies(out)["__Host-fg_session"]
        assert "max-age=0" in deleted and "; secure" in deleted and "; path=/;" in deleted

    sign_in(api.client, admin)  # plain HTTP: as before
    assert [(c.name, c.secure, c.path) for c in api.client.cookies.jar] == [("fg_session", False, "/ui")]
    assert api.client.get("/ui/people", follow_redirects=False).status_code == 200


def test_no_secret_is_logged_and_a_failed_sign_in_is_audited_without_it(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Requests with a right key, a wrong one and a revoked one, console sign-ins right and wrong, a key
    created and revoked: no log line at any level holds a secret; the failed sign-in is a denied event
    naming the key's public id."""
    admin = api.tokens[ADMIN]
    wrong = admin[:-4] + "wxyz"
    with caplog.at_level(logging.DEBUG):
        created = api.client.post(
            "/api-keys", json={"role": "auditor", "label": "x"}, headers=api.auth(ADMIN)
        )
        auditor = created.json()["token"]
        assert api.client.get("/events", headers={"X-API-Key": auditor}).status_code == 200
        assert api.client.get("/people", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        revoke = api.client.post(f"/api-keys/{auditor.split('_')[1]}/revoke", headers=api.auth(ADMIN))
        assert revoke.status_code == 200
        assert api.client.get("/events", headers={"X-API-Key": auditor}).status_code == 401
        csrf = sign_in(api.client, admin)
        assert api.client.post("/ui/logout", data={"csrf_token": csrf}).status_code == 200
        api.client.get("/ui/login")
        form_csrf = CSRF.search(api.client.get("/ui/login").text)
        assert form_csrf is not None
        refused = api.client.post("/ui/login", data={"api_key": wrong, "csrf_token": form_csrf[1]})
        assert refused.status_code == 401
    assert len(caplog.records) > 5
    logged = "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    for token in (admin, wrong, auditor):
        assert token.split("_", 2)[2] not in logged
    with session_scope(api.services.engine) as session:
        events, _ = query_events(session, where=EventFilter(door="api"))
    assert [event.reason for event in events] == ["api_key_wrong_secret", "api_key_revoked"] + [
        "api_key_wrong_secret"
    ]
    assert events[-1].source == f"testclient token {admin.split('_')[1]}"
    assert all(wrong.split("_", 2)[2] not in event.model_dump_json() for event in events)


def test_a_device_key_refused_at_the_sign_in_is_audited_without_its_secret(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """A valid device key at the console's sign-in was refused with a log line only, while a wrong key is
    a denied audit event: someone trying a gate's key on the console left no trace an auditor sees."""
    device = api.tokens[Role.device]
    with caplog.at_level(logging.DEBUG):
        api.client.get("/ui/login")
        form_csrf = CSRF.search(api.client.get("/ui/login").text)
        assert form_csrf is not None
        refused = api.client.post("/ui/login", data={"api_key": device, "csrf_token": form_csrf[1]})
    assert refused.status_code == 401 and "Device keys cannot use the console." in refused.text
    assert "fg_session" not in api.client.cookies
    secret = device.split("_", 2)[2]
    assert all(secret not in f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    with session_scope(api.services.engine) as session:
        events, _ = query_events(session, where=EventFilter(door="api"))
    assert [(event.decision, event.reason, event.source) for event in events] == [
        ("denied", "api_key_wrong_role", f"testclient token {device.split('_')[1]}")
    ]
    assert secret not in events[0].model_dump_json()
