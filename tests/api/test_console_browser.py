"""The console in a real browser (headless Debian Chromium through Playwright) against a real uvicorn server.

One scenario, as an admin and an auditor would work: sign in, enroll a person from two real photos after
a refused one, a gate run on another photo of them appears live on the Events page, the auditor is kept
out of People and Keys, finds yesterday's denials at one door and exports them, a revoked key's session
ends, a script-like name stays text, and the pages fit a phone. Step timings and screenshots are written
only when --console-timings / --console-screenshots are given.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from api.cli.demo import write_video
from api.cli.demo_data import Scene
from api.cli.runtime import build_runtime
from api.services import AppServices
from api.settings import ApiSettings
from storage import AuditEventCreate, Decision, StorageSettings, append_event, ensure_door, session_scope
from tests.api.console_browser import (
    DESKTOP,
    FAKE_CAMERA_ARGS,
    PHONE,
    Recorder,
    launch_chromium,
    serving,
    sign_in_page,
)
from tests.data import group_photo, knn_examples

XSS_NAME = "<img src=x onerror=alert(1)>"
# Enrollment and face detection run on two shared cores in CI; Playwright's 5 s default waits for a verdict
# that a loaded machine can take longer to render (seen once under a load average of 9).
expect.set_options(timeout=20_000)
pytestmark = pytest.mark.model  # photos of the same person from ../shared/data


def test_debian_chromium_launches() -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.set_content("<p id=ok>ready</p>")
        assert page.inner_text("#ok") == "ready"
        browser.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str, AppServices]]:
    """`facegate init`, then the app `facegate serve` builds, on a free port: (URL, admin key, services)."""
    result = CliRunner().invoke(cli_app, ["init"])
    assert result.exit_code == 0, result.output
    admin_key = result.output.strip().splitlines()[-1]
    runtime = build_runtime(StorageSettings())
    services = AppServices(
        engine=runtime.engine,
        keyring=runtime.keyring,
        recognizer=runtime.recognizer,
        enrollment=runtime.enrollment,
    )
    with serving(create_app(services, settings=ApiSettings())) as base_url:
        yield base_url, admin_key, services


def _enroll(page: Page, base_url: str, name: str, photos: list[Path]) -> None:
    page.goto(f"{base_url}/ui/people")
    page.get_by_role("link", name="Enroll a person").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Photos").set_input_files(photos)
    page.get_by_role("button", name="Enroll").click()


def _gate_run(tmp_path: Path, photo: Path, *, door: str) -> str:
    """`facegate doors create` (a gate refuses an unknown door), then `facegate gate` over a short video of
    one photo (a real gate process on the same database)."""
    video = tmp_path / "door.avi"
    image = cv2.imread(str(photo))
    write_video([Scene("visitor", image, frozenset(), 0)], video, frames_per_scene=6)
    created = CliRunner().invoke(cli_app, ["doors", "create", door])
    assert created.exit_code == 0, created.output
    result = CliRunner().invoke(cli_app, ["gate", "--source", str(video), "--door", door])
    assert result.exit_code == 0, result.output
    return result.output


def _yesterdays_events(services: AppServices) -> None:
    """Denials and grants at two doors, yesterday and today: the auditor's haystack."""
    yesterday = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    with session_scope(services.engine) as session:
        for door in ("front", "back"):
            ensure_door(session, name=door)
            for hours, decision in [
                (0, Decision.denied),
                (1, Decision.denied),
                (2, Decision.granted),
                (24, Decision.denied),
            ]:
                event = AuditEventCreate(
                    door=door,
                    source="cam",
                    decision=decision,
                    reason="unknown" if decision == Decision.denied else "match",
                    model_id=services.recognizer.model_id,
                    score=0.2,
                    threshold=services.recognizer.cos_threshold,
                    occurred_at=yesterday + timedelta(hours=hours),
                )
                append_event(session, services.keyring, event)


def _api_status(base_url: str, path: str, key: str) -> int:
    request = urllib.request.Request(f"{base_url}{path}", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_admin_and_auditor_work_through_the_console(
    site: tuple[str, str, AppServices], tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    base_url, admin_key, services = site
    record = Recorder.from_config(pytestconfig)
    obama = knn_examples() / "train" / "obama"
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        admin = browser.new_context(viewport=DESKTOP).new_page()
        admin.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

        with record.timed("admin_sign_in_s"):
            sign_in_page(admin, base_url, admin_key)
        _enroll(admin, base_url, "Barack Obama", [obama / "obama.jpg", obama / "obama2.jpg", group_photo()])
        refused = admin.locator(".verdicts li.refused")
        expect(refused).to_have_count(1)
        expect(refused).to_contain_text("t1.jpg")
        expect(refused).to_contain_text("several faces")
        expect(admin.locator(".verdicts li.usable")).to_have_count(2)
        record.shot(admin, "enroll-refused")

        with record.timed("admin_enroll_two_photos_s"):
            _enroll(admin, base_url, "Barack Obama", [obama / "obama.jpg", obama / "obama2.jpg"])
            expect(admin.get_by_role("status")).to_have_text("Enrolled 2 photos.")
        record.shot(admin, "person")
        admin.get_by_role("link", name="People").click()
        expect(admin.get_by_role("link", name="Barack Obama")).to_be_visible()

        biden = knn_examples() / "train" / "biden"
        _enroll(admin, base_url, XSS_NAME, [biden / "biden.jpg", biden / "biden2.jpg"])
        expect(admin.locator("h1.person-name")).to_have_text(XSS_NAME)
        admin.get_by_role("link", name="People").click()
        expect(admin.get_by_role("link", name=XSS_NAME)).to_be_visible()
        assert admin.locator("img[src=x]").count() == 0
        record.shot(admin, "people")

        admin.get_by_role("link", name="Events").click()
        expect(admin.locator("#event-rows")).to_contain_text("No events match")
        _gate_run(tmp_path, knn_examples() / "test" / "obama1.jpg", door="front")
        granted = admin.locator("#event-rows tr.granted", has_text="Barack Obama")
        expect(granted.first).to_be_visible(timeout=15_000)  # no reload: the page refreshes itself
        expect(granted.first).to_contain_text(services.recognizer.model_id)

        admin.get_by_role("link", name="Keys").click()
        admin.get_by_label("Role").select_option("auditor")
        admin.get_by_label("Label").fill("Ann the auditor")
        admin.get_by_role("button", name="Create key").click()
        auditor_key = admin.locator("[data-new-secret]").inner_text().strip()
        record.shot(admin, "keys")
        admin.get_by_role("link", name="Access").click()
        admin.get_by_label("New group").fill("staff")
        admin.get_by_role("button", name="Create group").click()
        expect(admin.get_by_role("heading", name="staff")).to_be_visible()
        admin.get_by_label("Door", exact=True).fill("front")
        for day in ("mon", "tue", "wed", "thu", "fri"):
            admin.get_by_label(day).check()
        admin.get_by_label("Time zone").fill("Europe/Berlin")
        admin.get_by_role("button", name="Add rule").click()
        expect(admin.locator(".door", has_text="front")).to_contain_text("mon, tue, wed, thu, fri")
        expect(admin.locator(".door", has_text="front")).to_contain_text("Europe/Berlin")
        record.shot(admin, "access")

        _yesterdays_events(services)
        auditor = browser.new_context(viewport=DESKTOP, accept_downloads=True).new_page()
        sign_in_page(auditor, base_url, auditor_key)
        nav = auditor.get_by_role("navigation", name="Pages")
        expect(nav.get_by_role("link")).to_have_text(["Events", "Integrity", "System", "API"])
        for path in ("/ui/people", "/ui/keys", "/ui/access"):
            assert auditor.goto(f"{base_url}{path}").status == 403
            expect(auditor.get_by_role("alert")).to_contain_text("needs the role admin")
        for path in ("/people", "/api-keys"):
            assert _api_status(base_url, path, auditor_key) == 403

        yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
        with record.timed("auditor_find_and_export_yesterdays_denials_s"):
            auditor.goto(f"{base_url}/ui/events")
            auditor.get_by_label("Door").select_option("front")
            auditor.get_by_label("Decision").select_option("denied")
            auditor.get_by_label("From (UTC day)").fill(yesterday)
            auditor.get_by_label("To (UTC day)").fill(yesterday)
            auditor.get_by_role("button", name="Filter").click()
            expect(auditor.locator("#event-rows tr")).to_have_count(2)
            with auditor.expect_download() as download:
                auditor.get_by_role("link", name="Export CSV").click()
            exported = Path(download.value.path()).read_text()
        record.shot(auditor, "events")
        rows = list(csv.DictReader(io.StringIO(exported)))
        assert [(r["door"], r["decision"], r["occurred_at"][:10]) for r in rows] == [
            ("front", "denied", yesterday)
        ] * 2

        auditor.get_by_role("link", name="Integrity").click()
        auditor.get_by_role("button", name="Verify the chain").click()
        expect(auditor.get_by_role("heading", name="The chain holds")).to_be_visible()
        record.shot(auditor, "integrity")
        with auditor.expect_download() as checkpoint:
            auditor.get_by_role("button", name="Download a signed checkpoint").click()
        assert re.search(r'"signature_hex": "[0-9a-f]{128}"', Path(checkpoint.value.path()).read_text())
        auditor.get_by_role("link", name="System").click()
        expect(auditor.get_by_text(services.recognizer.model_id).first).to_be_visible()
        record.shot(auditor, "system")
        auditor.get_by_role("link", name="API").click()  # Swagger UI from the installed wheel, no CDN
        expect(auditor.get_by_text("/events/export.csv").first).to_be_visible()
        auditor.go_back()

        phone = browser.new_context(viewport=PHONE).new_page()
        sign_in_page(phone, base_url, auditor_key)
        for path in ("/ui/events", "/ui/integrity", "/ui/system"):
            phone.goto(f"{base_url}{path}")
            assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        phone.goto(f"{base_url}/ui/events")
        record.shot(phone, "events-phone")

        admin.get_by_role("link", name="Keys").click()
        admin.get_by_role("button", name="Revoke Ann the auditor").click()
        expect(admin.locator("tr.revoked")).to_contain_text("Ann the auditor")
        auditor.get_by_role("link", name="Events").click()  # the next click of the revoked key's session
        expect(auditor.get_by_role("heading", name="Sign in")).to_be_visible()
        assert _api_status(base_url, "/events", auditor_key) == 401
        browser.close()
    assert dialogs == []
    record.save()


def test_webcam_capture_reaches_enrollment(site: tuple[str, str, AppServices]) -> None:
    """getUserMedia → canvas → upload; Chromium's fake camera shows a test pattern, so it is refused."""
    base_url, admin_key, _ = site
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, extra_args=FAKE_CAMERA_ARGS)
        page = browser.new_context(viewport=DESKTOP).new_page()
        sign_in_page(page, base_url, admin_key)
        page.goto(f"{base_url}/ui/people/new")
        page.get_by_label("Name").fill("Camera")
        page.get_by_role("button", name="Use the camera").click()
        page.get_by_role("button", name="Take photo").click()
        expect(page.locator("[data-camera-shots] img")).to_have_count(1)
        assert page.evaluate("document.querySelector('[data-photo-input]').files[0].type") == "image/jpeg"
        page.get_by_role("button", name="Enroll").click()
        expect(page.locator(".verdicts li.refused")).to_have_text("camera-1.jpg: refused — no face found")
        browser.close()


def test_a_door_rename_in_the_console_says_which_gates_still_use_the_old_name(
    site: tuple[str, str, AppServices], tmp_path: Path
) -> None:
    """The rename answered with the page as before: nothing said that gates configured with the old name
    (one had just decided there) would from then on admit every enrolled person."""
    base_url, admin_key, _ = site
    _gate_run(tmp_path, knn_examples() / "test" / "obama1.jpg", door="front")  # a gate at front audits
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        admin = browser.new_context(viewport=DESKTOP).new_page()
        sign_in_page(admin, base_url, admin_key)
        admin.get_by_role("link", name="Access").click()
        expect(admin.get_by_text("After a rename, a gate configured with the old name")).to_be_visible()
        front = admin.locator(".door", has_text="front")
        front.get_by_label("Rename to").fill("lobby")
        front.get_by_role("button", name="Rename").click()

        notice = admin.locator("#rename-notice")
        expect(notice).to_contain_text("Door front is now lobby")
        expect(notice).to_contain_text("Set the door of every gate configured with front to lobby")
        expect(notice).to_contain_text(
            f"Gates that decided under front in the last 30 days: {tmp_path / 'door.avi'}"
        )
        expect(admin.locator(".door", has_text="lobby")).to_contain_text(
            "Former names, still used by gates configured with them: front"
        )
        admin.get_by_label("New door").fill("front")
        admin.get_by_role("button", name="Add door").click()
        expect(admin.get_by_role("alert")).to_contain_text("former name of door 'lobby'")
        browser.close()
