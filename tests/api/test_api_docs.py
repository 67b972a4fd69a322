"""The API reference: for signed-in users only, and every asset it loads comes from this server."""

from __future__ import annotations

import re

from storage import Role
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in


def test_a_signed_in_user_reads_the_reference_and_nothing_is_fetched_elsewhere(api: ApiHarness) -> None:
    api.client.cookies.clear()
    assert api.client.get("/ui/docs", follow_redirects=False).status_code == 303
    assert api.client.get("/ui/openapi.json", follow_redirects=False).status_code == 303

    sign_in(api.client, api.tokens[Role.auditor])
    page = api.client.get("/ui/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls and all(url.startswith("/ui/") for url in urls), urls
    assert "http://" not in page.text and "https://" not in page.text
    for url in urls:
        assert api.client.get(url).status_code == 200, url
    schema = api.client.get("/ui/openapi.json").json()
    assert "/events" in schema["paths"] and schema["openapi"].startswith("3.1")
    assert api.client.get("/ui/docs/assets/other.js").status_code == 404


def test_the_bundled_swagger_ui_reads_openapi_3_1() -> None:
    import importlib.resources

    bundle = (importlib.resources.files("fastapi_offline") / "static" / "swagger-ui-bundle.js").read_text()
    versions = {tuple(int(p) for p in v.split(".")) for v in re.findall(r'"(5\.\d+\.\d+)"', bundle)}
    assert max(versions) >= (5, 0, 0)  # Swagger UI renders OpenAPI 3.1 from 5.0 on
