"""Walk the OpenAPI schema: no public model exposes an embedding, ciphertext, nonce or key (I2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from storage import Role
from tests.api.conftest import ApiHarness

FORBIDDEN_WORDS = (
    "embedding",
    "vector",
    "ciphertext",
    "nonce",
    "key",
    "secret",
    "sha256",
    "plaintext",
    "template_key",
)


PUBLIC_BY_DESIGN = {
    "x25519_public_key",  # an edge device's public key: galleries are sealed to it (POST /devices/register)
    "public_key_hex",  # the Ed25519 key that signed an audit checkpoint, inside it (POST /audit/verify)
    "Idempotency-Key",  # a request header: an id the client chose for its request, no secret or biometric
}


def _property_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            yield from properties
        for value in node.values():
            yield from _property_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _property_names(value)


def _parameter_names(schema: dict[str, Any]) -> Iterator[str]:
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                yield parameter["name"]


def test_openapi_exposes_no_biometric_or_key_field(api: ApiHarness) -> None:
    response = api.client.get("/openapi.json", headers=api.auth(Role.auditor))
    assert response.status_code == 200
    schema = response.json()
    names = set(_property_names(schema)) | set(_parameter_names(schema))
    assert {"id", "name", "template_count", "person_id", "candidates", "faces", "items", "total"} <= names
    leaks = sorted(
        name for name in names - PUBLIC_BY_DESIGN if any(word in name.lower() for word in FORBIDDEN_WORDS)
    )
    assert leaks == []
    components = set(schema["components"]["schemas"])
    assert {"PersonPublic", "IdentifyPublic", "EnrollmentPublic", "AuditEventPublic"} <= components
    # Templates are listed by their metadata only.
    template_fields = set(schema["components"]["schemas"]["TemplatePublic"]["properties"])
    assert template_fields == {"id", "person_id", "model_id", "source_name", "created_at", "quality"}
    # API keys are listed by their public id; the token appears once, in the answer that creates it.
    bodies = schema["components"]["schemas"]
    key_fields = {name: set(body["properties"]) for name, body in bodies.items() if name.startswith("ApiKey")}
    listed = {"token_id", "role", "label", "created_at", "expires_at", "last_used_at", "revoked_at"}
    assert key_fields == {
        "ApiKeyCreate": {"role", "label", "expires_at", "doors", "create_doors"},
        "ApiKeyPublic": listed,
        "ApiKeyCreatedPublic": listed | {"token"},
    }


def test_openapi_needs_a_key(api: ApiHarness) -> None:
    assert api.client.get("/openapi.json").status_code == 401


def test_every_documented_operation_declares_security(api: ApiHarness) -> None:
    schema = api.client.get("/openapi.json", headers=api.auth(Role.admin)).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            secured = bool(operation.get("security"))
            assert secured == (path not in ("/healthz", "/readyz")), (method, path)


def test_openapi_lists_every_decision_an_event_can_hold(api: ApiHarness) -> None:
    """`recorded` (the audit log's own events, since 0013) is part of the schema clients generate from."""
    schema = api.client.get("/openapi.json", headers=api.auth(Role.auditor)).json()
    assert schema["components"]["schemas"]["Decision"]["enum"] == ["granted", "denied", "recorded"]
