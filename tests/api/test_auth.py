"""Every route checks its role: no key → 401, another role → 403, the right role gets through (F5)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.app import create_app
from api.routes.health import UNAUTHENTICATED_PATHS
from storage import Role
from tests.api.conftest import ApiHarness

ADMIN, AUDITOR, DEVICE = Role.admin, Role.auditor, Role.device

ROUTE_ROLES: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", "/people"): frozenset({ADMIN}),
    ("GET", "/people"): frozenset({ADMIN}),
    ("GET", "/people/{person_id}"): frozenset({ADMIN}),
    ("DELETE", "/people/{person_id}"): frozenset({ADMIN}),
    ("POST", "/people/{person_id}/faces"): frozenset({ADMIN}),
    ("POST", "/identify"): frozenset({ADMIN, DEVICE}),
    ("GET", "/events"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/audit/verify"): frozenset({ADMIN, AUDITOR}),
    ("POST", "/audit/verify"): frozenset({ADMIN, AUDITOR}),
    ("GET", "/openapi.json"): frozenset({ADMIN, AUDITOR, DEVICE}),
    ("POST", "/access/groups"): frozenset({ADMIN}),
    ("GET", "/access/groups"): frozenset({ADMIN}),
    ("DELETE", "/access/groups/{group_id}"): frozenset({ADMIN}),
    ("PUT", "/access/groups/{group_id}/members/{person_id}"): frozenset({ADMIN}),
    ("DELETE", "/access/groups/{group_id}/members/{person_id}"): frozenset({ADMIN}),
    ("POST", "/access/rules"): frozenset({ADMIN}),
    ("GET", "/access/rules"): frozenset({ADMIN}),
    ("DELETE", "/access/rules/{rule_id}"): frozenset({ADMIN}),
    ("PATCH", "/people/{person_id}"): frozenset({ADMIN}),
    ("GET", "/people/{person_id}/templates"): frozenset({ADMIN}),
    ("GET", "/people/{person_id}/export"): frozenset({ADMIN}),
    ("POST", "/people/{person_id}/erase"): frozenset({ADMIN}),
    ("DELETE", "/people/{person_id}/templates/{template_id}"): frozenset({ADMIN}),
    ("GET", "/doors"): frozenset({ADMIN}),
    ("POST", "/doors"): frozenset({ADMIN}),
    ("PATCH", "/doors/{door_id}"): frozenset({ADMIN}),
    ("DELETE", "/doors/{door_id}/former-names/{name:path}"): frozenset({ADMIN}),
    ("GET", "/events/export.csv"): frozenset({ADMIN, AUDITOR}),
    ("POST", "/api-keys"): frozenset({ADMIN}),
    ("GET", "/api-keys"): frozenset({ADMIN}),
    ("POST", "/api-keys/{token_id}/revoke"): frozenset({ADMIN}),
    ("POST", "/devices/register"): frozenset({DEVICE}),
    ("POST", "/devices/gallery"): frozenset({DEVICE}),
    ("POST", "/devices/events"): frozenset({DEVICE}),
}
"""The intended role of every authenticated route; a new route must be added here."""


def _app_routes(api: ApiHarness) -> set[tuple[str, str]]:
    """(method, path) of every API route the app serves, routers included.

    The console under /ui signs in with a session cookie; tests/api/test_console.py holds its role table.
    """
    routes: set[tuple[str, str]] = set()
    for context in iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        if context.path.startswith("/ui"):
            continue
        assert isinstance(context.original_route, APIRoute), f"{context.path} is not an APIRoute"
        assert context.path and context.methods
        routes.update((method, context.path) for method in context.methods)
    return routes


def test_unauthenticated_routes_are_exactly_the_health_checks() -> None:
    assert frozenset({"/healthz", "/readyz"}) == UNAUTHENTICATED_PATHS


def test_every_route_is_in_the_role_table(api: ApiHarness) -> None:
    routes = _app_routes(api)
    authenticated = {route for route in routes if route[1] not in UNAUTHENTICATED_PATHS}
    assert authenticated == set(ROUTE_ROLES)
    assert {path for _, path in routes} - {path for _, path in authenticated} == UNAUTHENTICATED_PATHS


def test_fastapi_default_docs_are_not_served(api: ApiHarness) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert api.client.get(path).status_code == 404


DEVICE_BODIES: dict[str, dict[str, Any]] = {
    "/devices/register": {"x25519_public_key": base64.b64encode(bytes(range(32))).decode()},
    "/devices/gallery": {"model_id": "m", "version": None, "template_ids": []},
    "/devices/events": {"events": []},
}


def _call(api: ApiHarness, method: str, path: str, headers: dict[str, str], photo: bytes) -> Any:
    url = path
    for parameter in ("{person_id}", "{group_id}", "{rule_id}", "{token_id}", "{door_id}", "{template_id}"):
        url = url.replace(parameter, "987654")
    if (path in ("/people", "/access/groups", "/doors") and method == "POST") or method == "PATCH":
        return api.client.request(method, url, json={"name": "Role Matrix"}, headers=headers)
    if path == "/api-keys" and method == "POST":
        return api.client.post(url, json={"role": "device", "label": "Role Matrix"}, headers=headers)
    if path == "/access/rules" and method == "POST":
        rule = {"door": "front", "group_id": 987654, "weekdays": ["mon"], "start": "08:00", "end": "18:00"}
        return api.client.post(url, json=rule, headers=headers)
    if path in DEVICE_BODIES:
        return api.client.post(url, json=DEVICE_BODIES[path], headers=headers)
    if path.endswith("/faces"):
        return api.client.post(url, files=[("photos", ("a.jpg", photo, "image/jpeg"))], headers=headers)
    if path == "/identify":
        return api.client.post(url, files={"photo": ("probe.jpg", photo, "image/jpeg")}, headers=headers)
    return api.client.request(method, url, headers=headers)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTE_ROLES), ids=lambda value: str(value))
def test_role_matrix(api: ApiHarness, group_faces: list[bytes], method: str, path: str) -> None:
    photo = group_faces[0]
    before = api.state()

    anonymous = _call(api, method, path, {}, photo)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["detail"] == "missing API key"

    forged = _call(api, method, path, {"Authorization": "Bearer fg_0000000000000000_notthesecret"}, photo)
    assert forged.status_code == 401, forged.text
    assert forged.json()["detail"] == "invalid API key"

    for role in Role:
        response = _call(api, method, path, api.auth(role), photo)
        if role in ROUTE_ROLES[(method, path)]:
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert "needs the role" in response.json()["detail"]
    if method == "GET":
        assert api.state() == before


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-auth"),
        pytest.param({"Authorization": "Bearer "}, id="empty-bearer"),
        pytest.param({"Authorization": "Bearer not-a-facegate-token"}, id="malformed"),
        pytest.param({"X-API-Key": ""}, id="empty-x-api-key"),
        pytest.param({"X-API-Key": "fg_abc_def"}, id="unknown-x-api-key"),
    ],
)
def test_bad_credentials_are_401(api: ApiHarness, headers: dict[str, str]) -> None:
    response = api.client.get("/people", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_right_key_id_with_wrong_secret_is_401(api: ApiHarness) -> None:
    prefix, key_id, _secret = api.tokens[ADMIN].split("_", 2)
    response = api.client.get("/people", headers={"Authorization": f"Bearer {prefix}_{key_id}_wrong"})
    assert response.status_code == 401


def test_x_api_key_header_is_accepted(api: ApiHarness) -> None:
    assert api.client.get("/people", headers={"X-API-Key": api.tokens[ADMIN]}).status_code == 200
    assert api.client.get("/people", headers={"X-API-Key": api.tokens[AUDITOR]}).status_code == 403


def test_health_routes_need_no_key_and_say_nothing_else(api: ApiHarness) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_create_app_has_no_module_level_app() -> None:
    import api.app as module

    assert callable(create_app)
    assert not [name for name, value in vars(module).items() if type(value).__name__ == "FastAPI"]
