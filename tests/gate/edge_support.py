"""Real processes for the multi-site tests: `facegate serve` API servers and `python -m gate` edge gates."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate import held_templates

# Deadlines for progress (a start, an answer, a sync, a decision), not claims about speed: on a loaded
# 2-core machine these processes at nice 10 took minutes to import and load their models.
WAIT_S = 300.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _base_env(home: Path) -> dict[str, str]:
    keep = ("PATH", "PYTHONPATH", "LANG")
    return {
        **{n: os.environ[n] for n in keep if n in os.environ},
        "HOME": str(home),
        "FACEGATE_HOME": str(home),
    }


def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str, step_s: float = 0.02) -> float:
    """Seconds it took; fails the test after timeout_s."""
    start_s = time.monotonic()
    while not condition():
        assert time.monotonic() - start_s < timeout_s, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(step_s)
    return time.monotonic() - start_s


@dataclass
class ApiServer:
    """`facegate serve` on the shared database, in its own process."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def request(self, method: str, path: str, token: str, body: Any = None, files: Any = None) -> Any:
        data, headers = None, {"Authorization": f"Bearer {token}"}
        if files is not None:
            boundary = "facegate-test-boundary"
            parts = b"".join(
                b'--%s\r\nContent-Disposition: form-data; name="photos"; filename="%s"\r\n'
                b"Content-Type: image/jpeg\r\n\r\n%s\r\n" % (boundary.encode(), name.encode(), payload)
                for name, payload in files
            )
            data = parts + b"--%s--\r\n" % boundary.encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=WAIT_S) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from exc
        return json.loads(raw) if raw else None

    def is_up(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_api_server(
    tmp_path: Path, name: str, *, database_url: str, master_key: bytes, feed: str = "listen", port: int = 0
) -> ApiServer:
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    port = port or free_port()
    env = {
        **_base_env(home),
        "FACEGATE_DATABASE_URL": database_url,
        "FACEGATE_MASTER_KEY": base64.urlsafe_b64encode(master_key).decode(),
        "FACEGATE_API_GALLERY_FEED": feed,
    }
    log = tmp_path / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "facegate"), "serve", "--port", str(port), "-v"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(lambda: server.is_up() or process.poll() is not None, timeout_s=WAIT_S, what=f"{name} up")
    except AssertionError:
        server.stop()
        raise
    assert process.poll() is None, log.read_text()[-3000:]
    return server


@dataclass
class EdgeGate:
    """`python -m gate` with only a device key and the API's address: no database URL, no master key."""

    process: subprocess.Popen[bytes]
    home: Path
    out: Path
    err: Path

    def held(self) -> dict[str, int] | None:
        """Template id → person id of the gate's sealed gallery cache, opened with its private key."""
        try:
            return held_templates(self.home / "device")
        except FileNotFoundError:
            return None

    def held_people(self) -> set[int]:
        return set((self.held() or {}).values())


def start_edge_gate(
    tmp_path: Path,
    name: str,
    *,
    api_url: str,
    token: str,
    door: str,
    source: str,
    long_poll_s: float = 10.0,
    max_stale_s: float = 30.0,
) -> EdgeGate:
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    env = {
        **_base_env(home),
        "FACEGATE_GATE_GALLERY_SOURCE__KIND": "api",
        "FACEGATE_GATE_GALLERY_SOURCE__URL": api_url,
        "FACEGATE_GATE_GALLERY_SOURCE__API_KEY": token,
        "FACEGATE_GATE_GALLERY_SOURCE__LONG_POLL_S": str(long_poll_s),
        "FACEGATE_GATE_GALLERY_SOURCE__RETRY_MAX_S": "0.5",
        "FACEGATE_GATE_GALLERY_MAX_STALE_S": str(max_stale_s),
        "FACEGATE_GATE_JOURNAL_RETRY_INITIAL_S": "0.05",
        "FACEGATE_GATE_JOURNAL_RETRY_MAX_S": "0.2",
        "FACEGATE_GATE_DAEMON_HTTP_PORT": "0",
        "FACEGATE_GATE_DECISION__COOLDOWN_S": "0",
        # These tests are about syncs, journals and revocations, not frame freshness: at the default 1 s a
        # gate starved by a loaded machine skipped every frame as too old and decided nothing for minutes.
        "FACEGATE_GATE_DECISION__MAX_FRAME_AGE_S": "60",
    }
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out.open("ab") as stdout, err.open("ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gate", "--source", source, "--door", door, "-v"],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    return EdgeGate(process, home, out, err)
