"""The console's Integrity page verifies from a checkpoint the auditor uploads or pastes: the verdict states
the events up to it were not verified; a checkpoint that does not hold is refused inside the page."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.app import create_app
from api.console.pages.integrity import MAX_CHECKPOINT_BYTES
from api.settings import ApiSettings
from storage import (
    BREAK_ACKNOWLEDGED,
    Checkpoint,
    Decision,
    Role,
    export_checkpoint,
    query_events,
    reanchor_checkpoint,
    session_scope,
    verify_chain_since,
)
from tests.api.conftest import ApiHarness
from tests.api.console_browser import DESKTOP, PHONE, console_page, launch_chromium, serving, sign_in_page
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


def _integrity_page(browser: Browser, base_url: str, token: str) -> Page:
    """A desktop page signed in with `token`, on the Integrity page, that accepts downloads."""
    page = browser.new_context(viewport=DESKTOP, accept_downloads=True).new_page()
    sign_in_page(page, base_url, token)
    page.get_by_role("link", name="Integrity").click()
    return page


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
        page = _integrity_page(browser, base_url, api.tokens[Role.auditor])
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
        sign_in_page(phone, base_url, api.tokens[Role.auditor])
        phone.goto(f"{base_url}/ui/integrity")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        browser.close()


REANCHOR = "/ui/integrity/reanchor"


def _reanchor(api: ApiHarness, *, breaks: str, note: str, role: Role = Role.admin) -> Any:
    csrf = sign_in(api.client, api.tokens[role])
    return api.client.post(REANCHOR, data={"csrf_token": csrf, "breaks": breaks, "note": note})


def _last_sequence(api: ApiHarness) -> int:
    with session_scope(api.services.engine) as session:
        return query_events(session, limit=1)[0][0].sequence


def test_an_admin_re_anchors_in_the_page_and_downloads_the_checkpoint(
    api: ApiHarness, checkpointed: Checkpoint
) -> None:
    response = _reanchor(api, breaks=" 3 ", note=" INC-42: row edited by a DBA ")

    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith('attachment; filename="facegate-checkpoint-10-')
    reanchored = Checkpoint.model_validate_json(response.text)
    assert [b.sequence for b in reanchored.acknowledged_breaks] == [3] and reanchored.sequence == 10
    with session_scope(api.services.engine) as session:
        event = query_events(session, limit=1)[0][0]
        assert verify_chain_since(session, api.services.keyring, reanchored).is_ok
    assert event.reason == BREAK_ACKNOWLEDGED and event.decision is Decision.recorded
    assert re.fullmatch(
        r"breaks at 3 \(edited\) acknowledged by console key test admin \(\w+\): INC-42: row edited by a DBA",
        event.source,
    ), event.source


def _reanchor_form_key(api: ApiHarness) -> str:
    """The one-time key of the re-anchoring form, as the Integrity page renders it for an admin."""
    page = api.client.get("/ui/integrity").text
    form = page.split('action="/ui/integrity/reanchor"')[1].split("</form>")[0]
    found = re.search(r'name="form_key" value="([^"]+)"', form)
    assert found is not None, form
    return found[1]


def test_a_re_anchoring_sent_again_appends_nothing_and_downloads_the_same_checkpoint(
    api: ApiHarness, checkpointed: Checkpoint
) -> None:
    """The answer is a download, so the page (and its form) stays as it was and console.js leaves the form
    sendable: a double click sent it twice, and each sending appended an acknowledgement event and signed
    its own checkpoint (sequences 10 and 11). A freshly rendered form re-anchors again."""
    csrf = sign_in(api.client, api.tokens[Role.admin])
    form = {"csrf_token": csrf, "breaks": "3", "note": "INC-42", "form_key": _reanchor_form_key(api)}

    first, again = api.client.post(REANCHOR, data=form), api.client.post(REANCHOR, data=form)

    assert first.status_code == again.status_code == 200, again.text
    assert (
        again.text == first.text
        and again.headers["content-disposition"] == first.headers["content-disposition"]
    )
    assert Checkpoint.model_validate_json(first.text).sequence == 10 and _last_sequence(api) == 10
    fresh = {**form, "form_key": _reanchor_form_key(api)}
    assert Checkpoint.model_validate_json(api.client.post(REANCHOR, data=fresh).text).sequence == 11


REANCHOR_REFUSALS: dict[str, tuple[str, str, int, str]] = {
    "another-break": ("4", "INC-42", 422, "the audit chain first breaks at sequence 3 (edited"),
    "not-a-sequence": ("three", "INC-42", 422, "name each break's sequence"),
    "a-superscript-digit": ("3²", "INC-42", 422, "name each break's sequence"),  # was a 500 (int("3²"))
    "no-note": ("3", "   ", 422, "say what the investigation found"),
}


@pytest.mark.parametrize(
    ("breaks", "note", "status_code", "words"), REANCHOR_REFUSALS.values(), ids=list(REANCHOR_REFUSALS)
)
def test_a_re_anchoring_that_does_not_name_the_breaks_appends_nothing(
    api: ApiHarness, checkpointed: Checkpoint, breaks: str, note: str, status_code: int, words: str
) -> None:
    response = _reanchor(api, breaks=breaks, note=note)

    assert response.status_code == status_code
    page = html.unescape(response.text)
    alert = page.split('<p class="error" role="alert">')[1].split("</p>")[0]
    assert words in alert
    assert f'name="breaks" value="{breaks}"' in page
    assert _last_sequence(api) == 9


def test_an_intact_chain_has_nothing_to_re_anchor_and_auditors_may_not(api: ApiHarness) -> None:
    append(api.services.engine, api.services.keyring, range(1, 4))

    refused = _reanchor(api, breaks="2", note="INC-1")
    assert refused.status_code == 422 and "there is no break to acknowledge" in html.unescape(refused.text)
    assert _reanchor(api, breaks="2", note="INC-1", role=Role.auditor).status_code == 403
    assert "Re-anchor after an investigated break" not in api.client.get("/ui/integrity").text
    assert _last_sequence(api) == 3


def test_in_a_browser_an_admin_re_anchors_after_a_break_and_verifies_from_it(
    api: ApiHarness, checkpointed: Checkpoint, tmp_path: Path
) -> None:
    """Headless Chromium on a real server: the whole walk is broken; a re-anchoring naming the wrong break is
    refused with the chain's breaks named and the input kept; naming the right one downloads a checkpoint,
    and verifying from it holds and says which break it acknowledges."""
    with (
        serving(create_app(api.services, settings=ApiSettings())) as base_url,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        page = _integrity_page(browser, base_url, api.tokens[Role.admin])
        page.get_by_role("button", name="Verify the chain").click()
        expect(page.get_by_role("heading", name="The chain is broken")).to_be_visible()

        page.get_by_label("Break sequences").fill("4")
        page.get_by_label("Investigation note").fill("INC-42: a DBA edited a row")
        page.get_by_role("button", name="Acknowledge and download a checkpoint").click()
        first_break = "the audit chain first breaks at sequence 3 (edited"
        expect(page.get_by_role("alert")).to_contain_text(first_break)
        expect(page.get_by_label("Break sequences")).to_have_value("4")
        expect(page.get_by_label("Investigation note")).to_have_value("INC-42: a DBA edited a row")
        assert _last_sequence(api) == 9

        page.get_by_label("Break sequences").fill("3")
        with page.expect_download() as download:
            page.get_by_role("button", name="Acknowledge and download a checkpoint").click()
        kept = tmp_path / "reanchored.json"
        download.value.save_as(kept)

        page.goto(f"{base_url}/ui/integrity")
        page.get_by_label("Checkpoint file").set_input_files(kept)
        page.get_by_role("button", name="Verify from the checkpoint").click()
        verdict = page.get_by_role("status")
        expect(verdict.get_by_role("heading")).to_have_text("The chain holds after the checkpoint")
        expect(verdict).to_contain_text("acknowledging the audit chain's break at 3 (edited)")
        browser.close()


def test_in_a_browser_a_value_facegate_never_writes_is_named_in_the_verdict(
    api: ApiHarness, database_url: str
) -> None:
    """Headless Chromium: on SQLite, which keeps a decision 'GRANTED' (PostgreSQL's enum refuses it), "Verify
    the chain" shows the break at that event and the column; it was a 500 (LookupError). Signed in before the
    edit: the Events page, where sign-in lands, cannot show such an event."""
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's enum type refuses a decision FaceGate never writes")
    append(api.services.engine, api.services.keyring, range(1, 6))
    app = create_app(api.services, settings=ApiSettings())
    with console_page(app, api.tokens[Role.auditor], "/ui/integrity") as page:
        sql(api.services.engine, "UPDATE audit_event SET decision = 'GRANTED' WHERE sequence = 4")
        page.get_by_role("button", name="Verify the chain").click()
        verdict = page.get_by_role("status")
        expect(verdict.get_by_role("heading")).to_have_text("The chain is broken")
        expect(verdict.locator("dt:text-is('Broken at') + dd")).to_have_text("4")
        expect(verdict.locator("dt:text-is('Reason') + dd")).to_have_text("edited")
        expect(verdict.locator("dt:text-is('Detail') + dd")).to_contain_text(
            "its decision holds a value FaceGate never writes ('GRANTED' is not among"
        )
