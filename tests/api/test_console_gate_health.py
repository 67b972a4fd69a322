"""The console's System page in a real browser (headless Chromium, a real uvicorn server) reads each gate's
/healthz from a real MonitoringServer and shows every camera's door and gallery state."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from api.app import create_app
from api.settings import ApiSettings
from gate import DecisionMade, GalleryChecked, GateMetrics, HealthBoard, MonitoringServer
from storage import Role
from tests.api.conftest import ApiHarness
from tests.api.console_browser import PHONE, console_page
from tests.fakes import FakeClock


def _row(page: Page, camera: str) -> dict[str, str]:
    """The gate table's row of `camera`, by column header."""
    table = page.locator(".gate table").filter(has_text=camera)
    headers = table.locator("thead th").all_inner_texts()
    cells = table.locator("tbody tr").filter(has_text=camera).locator("td").all_inner_texts()
    return dict(zip(headers, cells, strict=True))


def test_the_system_page_shows_each_cameras_door_and_gallery_state(api: ApiHarness) -> None:
    """/healthz gained door_state (88aafa3) and gallery_state (1aa6610), which make a camera unhealthy, but
    the System page's table showed neither: an operator saw a "NOT healthy" gate with every camera running.
    The table now shows each camera's health, door state and failures, and gallery state."""
    board = HealthBoard(max_camera_silence_s=3600.0, clock=FakeClock())
    for camera, door in (("entrance-cam", "front"), ("yard-cam", "back")):
        board.add_camera(camera, door=door)
        board.set_state(camera, "running", pid=4242)
    board(DecisionMade("entrance-cam", "front", 3, 1, "denied", "door_error", 7, 0.61, 0.36))
    board(GalleryChecked("entrance-cam", is_available=True))
    board(GalleryChecked("yard-cam", is_available=False))
    server = MonitoringServer(host="127.0.0.1", port=0, metrics=GateMetrics(), health=board)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/healthz"
        app = create_app(api.services, settings=ApiSettings(gate_health_urls=[url], gate_health_timeout_s=5))
        with console_page(app, api.tokens[Role.auditor], "/ui/system") as page:
            expect(page.get_by_role("heading", name=f"{url}: NOT healthy")).to_be_visible()
            entrance, yard = _row(page, "entrance-cam"), _row(page, "yard-cam")
            failing = page.locator(".gate td.error").all_inner_texts()
            page.set_viewport_size(PHONE)  # the wider table scrolls in its box; the page still fits a phone
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        server.stop()
    shown = ("Healthy", "State", "Door state", "Door failures", "Gallery state")
    assert [entrance[column] for column in shown] == ["no", "running", "failing", "1", "ok"]
    assert [yard[column] for column in shown] == ["no", "running", "unknown", "0", "unavailable"]
    assert failing == ["no", "failing", "no", "unavailable"]  # marked as errors, in table order
