"""schemathesis fuzzes every documented operation: no 5xx, and every answer matches its schema (I2).

Runs with an admin key and with an auditor key against the real app (SQLite, real models). The number
of generated cases per operation is FACEGATE_TEST_FUZZ_EXAMPLES (default 10: well under a minute on
two cores); the count of requests sent goes to stderr (`-s` shows it). Every request, the schema's included,
has REQUEST_TIMEOUT_S instead of schemathesis's default 10 s.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import ApiSettings
from recognition import Recognizer
from storage import Keyring, Role, create_schema, make_engine
from tests.api.conftest import make_services, make_tokens, wait_for_gallery

# Read at import, before the autouse fixture clears FACEGATE_*.
EXAMPLES = int(os.environ.get("FACEGATE_TEST_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SENT: Counter[str] = Counter()
REQUEST_TIMEOUT_S = 300.0
"""Per request, in-process. schemathesis's default, 10 s, is a wall-clock bound on a CPU-bound call: under
load the first request alone (GET /openapi.json, which builds the schema: 0.6 s of CPU on an idle machine)
ran past it at nice 10 beside three busy loops, and the admin case failed with schemathesis's
`LoaderError: Read timed out after 10 seconds` before any case was sent. Generous, so that only a hung app
fails on it."""


@pytest.fixture(scope="module")
def fuzz_target(
    tmp_path_factory: pytest.TempPathFactory, recognizer: Recognizer
) -> Iterator[tuple[object, dict[Role, str]]]:
    database = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.db"
    engine = make_engine(f"sqlite:///{database}")
    create_schema(engine)
    services = make_services(engine, Keyring([secrets.token_bytes(32)]), recognizer)
    app = create_app(services, settings=ApiSettings(auth_max_failures=1_000_000))
    # Ready before the first case, as an orchestrator waits for /readyz: schemathesis starts the app's
    # lifespan at its first request, and /readyz (503 until the gallery is loaded) comes first.
    services.gallery.start(engine)
    wait_for_gallery(services)
    yield app, make_tokens(engine)
    engine.dispose()
    sys.stderr.write(f"\nschemathesis sent {sum(SENT.values())} requests: {dict(SENT)}\n")


def _fuzz(app: object, tokens: dict[Role, str], role: Role) -> None:
    """Every operation of the schema, EXAMPLES generated cases each, sent with `role`'s key."""
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers, timeout=REQUEST_TIMEOUT_S)
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=operation.as_strategy())
        def send(case: schemathesis.Case) -> None:
            response = case.call(headers=headers, timeout=REQUEST_TIMEOUT_S)
            SENT[role.value] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        send()


def test_admin_key(fuzz_target: tuple[object, dict[Role, str]]) -> None:
    _fuzz(*fuzz_target, Role.admin)


def test_auditor_key(fuzz_target: tuple[object, dict[Role, str]]) -> None:
    _fuzz(*fuzz_target, Role.auditor)
