"""An edge gate restarted offline on a clock set back cannot tell its sealed cache's age: it denies."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gate import ApiGallerySource, ApiGallerySourceConfig, GalleryStale
from storage import Role, bind_device_doors, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import serving
from tests.api.test_devices import _device_id, _enroll
from tests.gate.edge_support import wait_for

MAX_STALE_S = 3600.0


def _gate(api: ApiHarness, url: str, home: Path, *, utc_now=lambda: datetime.now(UTC)) -> ApiGallerySource:
    config = ApiGallerySourceConfig.model_validate(
        {"url": url, "api_key": api.tokens[Role.device], "long_poll_s": 0.0, "retry_max_s": 0.5}
    )
    return ApiGallerySource(
        config,
        door="lab",
        home=home,
        recognizer=api.services.recognizer,
        max_stale_s=MAX_STALE_S,
        monotonic=time.monotonic,
        utc_now=utc_now,
    )


def _stopped(gate: ApiGallerySource) -> None:
    thread = gate._thread  # the sync thread ends within a request: no write to the cache after this
    gate.close()
    if thread is not None:
        thread.join(30.0)


SET_BACK = [timedelta(days=400), timedelta(seconds=5)]


@pytest.mark.parametrize("set_back", SET_BACK, ids=["rtc-reset", "stepped"])
def test_a_cache_written_after_the_gates_time_now_is_not_decided_on(
    api: ApiHarness, tmp_path: Path, group_faces: list[bytes], set_back: timedelta
) -> None:
    """Regression: the cache's age was max(0, now - written), so on a clock set back (a dead RTC battery, a
    stepped clock) an old cache counted as written just now, and a gate restarted during an API outage
    decided on it, people erased since included, for another max_stale_s."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    ann = _enroll(api, "Ann", group_faces[0])
    with serving(api.client.app) as url:
        gate = _gate(api, url, tmp_path)
        gate.start()
        wait_for(lambda: ann in gate.template_person_ids.values(), timeout_s=60.0, what="the first sync")
        _stopped(gate)

    on_time = _gate(api, "http://127.0.0.1:9", tmp_path)  # the API away: only the cache
    on_time.start()
    try:
        assert len(on_time.gallery()) == 1  # decided on until the stale limit, as documented
    finally:
        _stopped(on_time)
    set_back_clock = _gate(api, "http://127.0.0.1:9", tmp_path, utc_now=lambda: datetime.now(UTC) - set_back)
    set_back_clock.start()
    try:
        with pytest.raises(GalleryStale):
            set_back_clock.gallery()
    finally:
        _stopped(set_back_clock)
