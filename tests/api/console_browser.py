"""Browser-test plumbing: Debian's Chromium through Playwright, and a real uvicorn server on a free port."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect, sync_playwright
from starlette.types import ASGIApp

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's package (`make test` installs it); Playwright never downloads a browser here."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
"""Chromium's built-in test-pattern camera, allowed without a permission prompt."""


def launch_chromium(playwright: Playwright, *, extra_args: list[str] | None = None) -> Browser:
    """Headless Chromium from /usr/bin; fails (never skips) when it is missing or cannot start."""
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    args = CHROMIUM_ARGS + (extra_args or [])
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)


def sign_in_page(page: Page, base_url: str, key: str) -> None:
    """Sign `page` in to the console with the API key `key`, through the sign-in form."""
    page.goto(f"{base_url}/ui/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Run `app` under uvicorn on a free local port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def console_page(app: ASGIApp, key: str, path: str, *, has_javascript: bool = True) -> Iterator[Page]:
    """A desktop Chromium page on `app` under uvicorn, signed in with the API key `key`, opened at `path`;
    JavaScript off unless `has_javascript` (the console must work without it)."""
    with serving(app) as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport=DESKTOP, java_script_enabled=has_javascript)
        page = context.new_page()
        sign_in_page(page, base_url, key)
        page.goto(f"{base_url}{path}")
        try:
            yield page
        finally:
            browser.close()


@dataclass
class Recorder:
    """Screenshots and step timings, written only where the pytest options ask for them."""

    screenshots: Path | None
    timings_file: Path | None
    timings_s: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Recorder:
        shots, timings = config.getoption("--console-screenshots"), config.getoption("--console-timings")
        return cls(Path(shots) if shots else None, Path(timings) if timings else None)

    def shot(self, page: Page, name: str) -> None:
        if self.screenshots is not None:
            self.screenshots.mkdir(parents=True, exist_ok=True)
            path = self.screenshots / f"{name}.png"
            page.screenshot(path=str(path), full_page=False)
            with Image.open(path) as image:  # a 256-colour palette keeps the README's PNGs small
                image.convert("RGB").quantize(256).save(path, optimize=True)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start = time.monotonic()
        yield
        self.timings_s[step] = round(time.monotonic() - start, 3)

    def save(self) -> None:
        if self.timings_file is not None:
            self.timings_file.parent.mkdir(parents=True, exist_ok=True)
            self.timings_file.write_text(json.dumps(self.timings_s, indent=2) + "\n")
