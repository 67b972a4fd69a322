"""After a model switch the API and console count a person's templates of the running model apart from others.

The gallery holds only the running model's templates, so someone enrolled from three photos before the switch
is denied at every door; GET /people said `template_count: 3` and the console's People page "3" for them.
"""

from __future__ import annotations

import re

from storage import Role
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in
from tests.model_switch import enroll_under

OTHER_MODEL = "mobilefacenet-foamliu-onnx@a6cc903"


def _counts(body: dict[str, object]) -> tuple[object, object]:
    return body["template_count"], body["other_model_template_count"]


def _text(html: str) -> str:
    """The page's text: tags dropped, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _row(html: str, person_id: int) -> str:
    """The text of the People table's row of this person."""
    rows = [line for line in html.splitlines() if f'href="/ui/people/{person_id}"' in line]
    assert len(rows) == 1, rows
    return _text(rows[0])


def _enroll_ada_bob_cy(api: ApiHarness) -> tuple[int, int, int]:
    """Ada: one template of the running model; Bob: three of another (enrolled before the switch); Cy: one and
    two."""
    running = api.services.recognizer.model_id
    engine, keyring = api.services.engine, api.services.keyring
    return (
        enroll_under(engine, keyring, "Ada", running),
        enroll_under(engine, keyring, "Bob", OTHER_MODEL, OTHER_MODEL, OTHER_MODEL),
        enroll_under(engine, keyring, "Cy", running, OTHER_MODEL, OTHER_MODEL),
    )


def test_the_api_counts_the_running_models_templates_apart_from_other_models(api: ApiHarness) -> None:
    running = api.services.recognizer.model_id
    ada, bob, cy = _enroll_ada_bob_cy(api)
    admin = api.auth(Role.admin)

    listed = api.client.get("/people", headers=admin).json()["items"]
    assert {person["id"]: _counts(person) for person in listed} == {ada: (1, 0), bob: (0, 3), cy: (1, 2)}
    assert _counts(api.client.get(f"/people/{bob}", headers=admin).json()) == (0, 3)
    renamed = api.client.patch(f"/people/{bob}", json={"name": "Bob B."}, headers=admin)
    assert renamed.status_code == 200 and _counts(renamed.json()) == (0, 3)
    export = api.client.get(f"/people/{cy}/export", headers=admin).json()
    assert _counts(export["person"]) == (1, 2)
    assert sorted(template["model_id"] for template in export["templates"]) == sorted(
        [running, OTHER_MODEL, OTHER_MODEL]
    )
    created = api.client.post("/people", json={"name": "Dee"}, headers=admin).json()
    assert _counts(created) == (0, 0)


def test_the_console_shows_who_must_be_enrolled_again(api: ApiHarness) -> None:
    running = api.services.recognizer.model_id
    ada, bob, cy = _enroll_ada_bob_cy(api)
    sign_in(api.client, api.tokens[Role.admin])

    people = api.client.get("/ui/people").text
    assert _row(people, ada).startswith(f"{ada} Ada 1 20")
    assert _row(people, bob).startswith(f"{bob} Bob 0 (+3 of other models: enroll again) 20")
    assert _row(people, cy).startswith(f"{cy} Cy 1 (+2 of other models) 20")

    page = _text(api.client.get(f"/ui/people/{bob}").text)
    assert f"Templates 0 of the running model {running}; 3 of other models, which it does not search" in page
    assert "Not recognised: every template is of another model than the running one" in page
    cy_page = _text(api.client.get(f"/ui/people/{cy}").text)
    assert f"Templates 1 of the running model {running}; 2 of other models" in cy_page
    assert "Not recognised" not in cy_page
    # the erasure removes every model's templates, and says so
    assert "their 3 templates;" in _text(api.client.get(f"/ui/people/{bob}/delete").text)
