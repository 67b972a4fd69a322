"""Ask each configured gate's /healthz how its cameras are (for the System page)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)
_MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class GateHealth:
    """One gate's answer: healthy or not, its cameras' reports, or why it could not be read."""

    url: str
    is_healthy: bool
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None


def _fetch(url: str, timeout_s: float) -> GateHealth:
    try:
        # A 503 (unhealthy) still carries the JSON report, so read the body of HTTP errors too.
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (http(s) URLs only)
            body = response.read(_MAX_BODY_BYTES)
    except urllib.error.HTTPError as exc:
        body = exc.read(_MAX_BODY_BYTES)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        logger.info("gate health %s unreachable: %s", url, exc)
        return GateHealth(url=url, is_healthy=False, error=f"unreachable: {exc}")
    try:
        report = json.loads(body)
        cameras = dict(report.get("cameras", {}))
        return GateHealth(url=url, is_healthy=report.get("status") == "ok", cameras=cameras)
    except (ValueError, AttributeError, TypeError) as exc:
        return GateHealth(url=url, is_healthy=False, error=f"not a gate health report: {exc}")


def gate_health(urls: list[str], *, timeout_s: float) -> list[GateHealth]:
    """Every gate's health, asked in parallel; each waits at most `timeout_s`."""
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
        return list(pool.map(lambda url: _fetch(url, timeout_s), urls))
