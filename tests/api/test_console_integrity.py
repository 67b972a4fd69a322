"""The console's Integrity page verifies from a checkpoint the auditor uploads or pastes: the verdict states
the events up to it were not verified; a checkpoint that does not hold is refused inside the page."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from api.app import create_app
from api.console.pages.integrity import MAX_CHECKPOINT_BYTES
from api.settings import ApiSettings
from storage import Checkpoint, Role, export_checkpoint, reanchor_checkpoint, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import DESKTOP, PHONE, launch_chromium, serving
from tests.api.test_console import sign_in
from tests.storage.audit_helpers import append, signed_by_stranger, sql

PAGE = "/ui/integrity/verify-since"


@pytest.fixture
def checkpointed(api: ApiHarness) -> Checkpoint:
    """Nine events; the checkpoint, signed while the chain was intact, covers the first six; then event 3
    is edited, a break the whole walk names and the walk from the checkpoint does not see."""
    append(api.services.engine, api.services.keyring, range(1, 7))
    with session_scope(api.services.engine) as session:
        checkpoint = export_checkpoint(session, api.services.keyring, now=datetime.now(UTC))
    append(api.services.engine, api.services.keyring, range(7, 10))
    sql(api.services.engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = 3")
    return checkpoint


def _send(
    api: ApiHarness, *, pasted: str = "", upload: bytes | None = None, role: Role = Role.auditor
) -> Any:
    csrf = sign_in(api.client, api.tokens[role])
    files = None if upload is None else {"checkpoint_file": ("checkpoint.json", upload, "application/json")}
    return api.client.post(PAGE, data={"csrf_token": csrf, "checkpoint_json": pasted}, files=files)


def test_a_pasted_or_uploaded_checkpoint_verifies_the_events_after_it(
    api: ApiHarness, checkpointed: Checkpoint
) -> None:
    window = f"events up to 6 (the checkpoint signed {checkpointed.created_at.isoformat()}) were not verified"
    for response in (
        _send(api, pasted=checkpointed.to_json()),
        _send(api, upload=checkpointed.to_json().encode(), role=Role.admin),
    ):
        assert response.status_code == 200, response.text
        page = html.unescape(response.text)
        assert "The chain holds after the checkpoint" in page and window in page
        assert "the events after checkpointed event 6" in page
        assert "<dt>Events checked</dt><dd>3</dd>" in page


def test_a_re_anchored_checkpoint_shows_the_break_it_acknowledges(
    api: ApiHarness, checkpointed: Checkpoint
) -> None:
    with session_scope(api.services.engine) as session:
        reanchored = reanchor_checkpoint(
            session,
            api.services.keyring,
            acknowledged=[3],
            acknowledged_by="alice",
            note="INC-42",
            now=datetime.now(UTC),
        )

    page = html.unescape(_send(api, pasted=reanchored.to_json()).text)

    assert "The chain holds after the checkpoint" in page and "checkpointed event 10" in page
    assert "acknowledging the audit chain's break at 3 (edited)) were not verified" in page


REFUSALS: dict[str, tuple[dict[str, Any], int, str]] = {
    "nothing": ({}, 422, "choose a checkpoint file or paste its JSON"),
    "not-json": ({"pasted": "{not json"}, 422, "not a FaceGate audit checkpoint"),
    "not-utf-8": ({"upload": b"\xff\xfe{"}, 422, "not a FaceGate audit checkpoint"),
    "too-large": ({"upload": b" " * (MAX_CHECKPOINT_BYTES + 1)}, 422, "larger than 16384 bytes"),
}


@pytest.mark.parametrize(("sent", "status_code", "words"), REFUSALS.values(), ids=list(REFUSALS))
def test_what_is_not_a_checkpoint_is_refused_in_the_page(
    api: ApiHarness, sent: dict[str, Any], status_code: int, words: str
) -> None:
    response = _send(api, **sent)

    assert response.status_code == status_code
    assert f'<p class="error" role="alert">Checkpoint refused: {words}' in html.unescape(response.text)


def test_a_checkpoint_that_does_not_hold_is_refused_in_the_page(
    api: ApiHarness, checkpointed: Checkpoint
) -> None:
    response = _send(api, upload=signed_by_stranger(checkpointed).to_json().encode())
    assert response.status_code == 422
    assert "which none of the keyring's master keys derives" in html.unescape(response.text)

    sql(api.services.engine, "DELETE FROM audit_event WHERE sequence = 6")
    response = _send(api, pasted=checkpointed.to_json())
    assert response.status_code == 409
    assert "Checkpoint refused: event 6 is gone (the log ends at event 9)" in html.unescape(response.text)


def test_in_a_browser_an_auditor_verifies_from_a_downloaded_checkpoint(
    api: ApiHarness, tmp_path: Path
) -> None:
    """Headless Chromium on a real server: the auditor downloads a checkpoint, the log is edited before it
    and grows after it, the whole walk is broken, the walk from the uploaded checkpoint holds and says what
    it left unverified; a checkpoint re-signed by a stranger and one pasted after its event was deleted are
    refused with the reason, the pasted one kept in its box."""
    engine, keyring = api.services.engine, api.services.keyring
    append(engine, keyring, range(1, 7))
    with (
        serving(create_app(api.services, settings=ApiSettings())) as base_url,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        page = browser.new_context(viewport=DESKTOP, accept_downloads=True).new_page()
        page.goto(f"{base_url}/ui/login")
        page.get_by_label("API key").fill(api.tokens[Role.auditor])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Integrity").click()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download a signed checkpoint").click()
        kept = tmp_path / "kept.json"
        download.value.save_as(kept)
        checkpoint = Checkpoint.model_validate_json(kept.read_text())
        append(engine, keyring, range(7, 10))
        sql(engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = 3")

        page.get_by_role("button", name="Verify the chain").click()
        expect(page.get_by_role("heading", name="The chain is broken")).to_be_visible()
        page.get_by_label("Checkpoint file").set_input_files(kept)
        page.get_by_role("button", name="Verify from the checkpoint").click()
        verdict = page.get_by_role("status")
        expect(verdict.get_by_role("heading")).to_have_text("The chain holds after the checkpoint")
        expect(verdict).to_contain_text(
            f"events up to 6 (the checkpoint signed {checkpoint.created_at.isoformat()}) were not verified"
        )
        expect(verdict.locator("dt:text-is('Events checked') + dd")).to_have_text("3")
        expect(page.get_by_role("alert")).to_have_count(0)

        forged = tmp_path / "forged.json"
        forged.write_text(signed_by_stranger(checkpoint).to_json())
        page.get_by_label("Checkpoint file").set_input_files(forged)
        page.get_by_role("button", name="Verify from the checkpoint").click()
        expect(page.get_by_role("alert")).to_contain_text("none of the keyring's master keys derives")
        expect(page.get_by_role("status")).to_have_count(0)

        sql(engine, "DELETE FROM audit_event WHERE sequence = 6")
        page.get_by_label("or its JSON, pasted").fill(kept.read_text())
        page.get_by_role("button", name="Verify from the checkpoint").click()
        expect(page.get_by_role("alert")).to_have_text(
            "Checkpoint refused: event 6 is gone (the log ends at event 9): the log was truncated or "
            "renumbered, or the checkpoint is of another database"
        )
        expect(page.get_by_label("or its JSON, pasted")).to_have_value(kept.read_text())
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

        phone = browser.new_context(viewport=PHONE).new_page()
        phone.goto(f"{base_url}/ui/login")
        phone.get_by_label("API key").fill(api.tokens[Role.auditor])
        phone.get_by_role("button", name="Sign in").click()
        phone.goto(f"{base_url}/ui/integrity")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        browser.close()
