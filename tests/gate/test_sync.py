"""Gallery sync: an enrollment or a deletion through the HTTP API reaches a running gate without a restart.

The gate side is the production GalleryCache with the default poll interval and the real monotonic
clock, asked for its gallery by a thread at camera pace, as the gate loop does on every frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from gate import GalleryCache, GateSettings
from recognition import Recognizer
from storage import Role
from tests.api.conftest import ApiHarness, make_services, make_tokens, wait_for_gallery

SYNC_LIMIT_S = 5.0
FRAME_INTERVAL_S = 0.04  # a 25 fps camera


@pytest.fixture
def api(engine, keyring, recognizer) -> Iterator[ApiHarness]:
    services = make_services(engine, keyring, recognizer)
    tokens = make_tokens(engine)
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        wait_for_gallery(services)
        yield ApiHarness(client=client, services=services, tokens=tokens)


@dataclass
class GalleryWatcher:
    """A running gate's view: whom its gallery identifies the probe face as, and since when."""

    cache: GalleryCache
    probe: np.ndarray
    threshold: float
    changes: list[tuple[float, int | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(FRAME_INTERVAL_S):
            matches = self.cache.current().search(self.probe, 1)
            person_id = matches[0].person_id if matches and matches[0].score >= self.threshold else None
            if not self.changes or self.changes[-1][1] != person_id:
                self.changes.append((time.monotonic(), person_id))

    def seen_after(self, started_s: float, person_id: int | None) -> float:
        """Seconds from `started_s` until the gallery showed `person_id` (waits up to twice the limit)."""
        deadline = started_s + 2 * SYNC_LIMIT_S
        while time.monotonic() < deadline:
            for at_s, seen in self.changes:
                if at_s >= started_s and seen == person_id:
                    return at_s - started_s
            time.sleep(0.01)
        pytest.fail(f"the running gate's gallery never showed person {person_id}")


def test_enrollment_and_deletion_through_the_api_reach_a_running_gate_within_5_s(
    api: ApiHarness, engine, keyring, recognizer: Recognizer, group_faces, record_property
) -> None:
    settings = GateSettings()  # the default poll interval
    cache = GalleryCache(
        engine=engine,
        keyring=keyring,
        recognizer=recognizer,
        poll_s=settings.gallery_poll_s,
        monotonic=time.monotonic,
        max_stale_s=settings.gallery_max_stale_s,
    )
    (observation,) = recognizer.observe(recognizer.decode(group_faces[5]))
    watcher = GalleryWatcher(
        cache=cache, probe=observation.embedding.vector, threshold=recognizer.cos_threshold
    )
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        assert watcher.seen_after(time.monotonic(), None) < SYNC_LIMIT_S  # running, nobody enrolled
        person_id = api.create_person("Bob")
        response = api.client.post(
            f"/people/{person_id}/faces",
            files=[("photos", ("bob.jpg", group_faces[5], "image/jpeg"))],
            headers=api.auth(Role.admin),
        )
        assert response.status_code == 201, response.text
        enroll_latency_s = watcher.seen_after(time.monotonic(), person_id)

        deleted = api.client.delete(f"/people/{person_id}", headers=api.auth(Role.admin))
        assert deleted.status_code == 204
        delete_latency_s = watcher.seen_after(time.monotonic(), None)
    finally:
        watcher.stop.set()
        thread.join()
    record_property("enroll_latency_s", round(enroll_latency_s, 3))
    record_property("delete_latency_s", round(delete_latency_s, 3))
    assert enroll_latency_s < SYNC_LIMIT_S
    assert delete_latency_s < SYNC_LIMIT_S
