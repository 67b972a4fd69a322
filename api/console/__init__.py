"""The operator web console under /ui: server-rendered pages for admins and auditors (no CDN, no build)."""

from api.console.app import CONSOLE_PATH, STATIC_PATH, error_page, include_console

__all__ = ["CONSOLE_PATH", "STATIC_PATH", "error_page", "include_console"]
