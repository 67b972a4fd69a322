"""The operator web console under /ui: server-rendered pages for admins and auditors (no CDN, no build)."""

from api.console.app import STATIC_PATH, include_console

__all__ = ["STATIC_PATH", "include_console"]
