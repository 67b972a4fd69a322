"""An edge gate's link to the API: its device key pair, the sealed gallery of its doors, events over HTTP.

The gate holds a device API key and the API's address, nothing else: no database URL, no master key.
At start it loads (or makes, mode 0600) its X25519 key pair and registers the public half with the
API. A thread then long-polls `POST /devices/gallery` with the gallery version and template ids it
has; the API answers when the gallery changes (PostgreSQL NOTIFY) or after `long_poll_s`, with what
to add and drop, sealed to this device. The gallery is kept in memory and, sealed to this device's own
key, on disk, so a restart during an API outage decides on it until the stale limit. A refused key
(revoked: 401) stops the sync; the gate then fails closed once `gallery_max_stale_s` has passed since
its last confirmed sync. Events leave the journal through `http_sink`, idempotent on their event id.
A sync that fails otherwise (a bug, a template it cannot index) is logged by its start with one
traceback, a count per `error_log_interval_s` and its end (gate/failure_log.py), not at every retry.
So is an API that does not serve the sync at all: unreachable (refused, timed out), a 5xx other than
503 (a 500, a proxy's 502), a 503 that names no state of the API (a proxy's, a gallery still loading) or
one that names its state (`database_unavailable`, `commit_unconfirmed`, `schema_missing`): its start is a
warning (a request that hit a bug, an API restarting, its database failing over), an error for
`schema_missing` (only an operator ends it), and its counts are errors, naming the latest cause, since a
gate cut off that long denies every face once its gallery is stale. The next sync waits at least the
Retry-After of a 503 (or 429), up to `retry_max_s`, rather than the shorter backoff. A request that got no
answer within `request_timeout_s` (beyond the long poll) is named so, not as an API unreachable: the API
waits for a database lock up to its own timeouts (30 s by default) before it answers 503 with Retry-After,
so the gate's timeout must be the longer one (its default is) for the gate to hear that answer.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gate.access_policy import DoorPolicy, warn_former_name
from gate.api_client import ApiClient
from gate.delivery import EventSink
from gate.errors import (
    DeviceRefused,
    GalleryStale,
    NoAnswerInTime,
    ServerUnavailable,
    UnknownDoor,
    UpstreamUnavailable,
)
from gate.failure_log import FailureLog, FailureTexts
from gate.settings import ApiGallerySourceConfig
from recognition import Gallery, Recognizer
from storage import (
    AccessWindow,
    AuditEventCreate,
    DeviceKeyPair,
    StorageError,
    load_or_create_device_key_pair,
    open_device_sync,
    open_sealed,
    private_file,
    seal_to_device,
    window_from_json,
    window_to_json,
)

logger = logging.getLogger(__name__)

CACHE_FILE = "gallery.sealed"
_CACHE_AAD = b"facegate/device-gallery-cache/v1"
_RETRY_INITIAL_S = 0.5
_SYNC_FAILED = FailureTexts(
    first="gallery sync failed (%(cause)s); retrying with backoff; the gate decides on %(at)s",
    still="gallery sync still failing: %(count)d attempts failed in the last %(span_s).0f s",
    ended="gallery sync works again after %(span_s).1f s (%(count)d attempts failed)",
)
_API_AWAY = FailureTexts(
    first="gallery sync: %(cause)s; deciding on %(at)s until stale",
    still="gallery sync: the server still does not serve it: %(count)d attempts failed in the last "
    "%(span_s).0f s (%(latest)s)",
    ended="gallery sync: the server answers again after %(span_s).1f s (%(count)d attempts failed)",
    level=logging.WARNING,  # one 500, a refused connection or a 502 while the API restarts may pass
    still_level=logging.ERROR,  # an API away that long does not: the gallery goes stale; someone must look
)
_CACHE_NOT_WRITTEN = FailureTexts(
    first="sealed gallery cache %(where)s not written (%(cause)s): the gate decides on %(at)s, but a restart "
    "while the API is away would start from an older gallery",
    still="sealed gallery cache %(where)s still not written: "
    "%(count)d writes failed in the last %(span_s).0f s",
    ended="sealed gallery cache %(where)s written again after %(span_s).1f s (%(count)d writes failed)",
)
Templates = dict[str, tuple[int, bytes]]
"""Template id → (person id, template bytes)."""


def held_templates(directory: Path) -> dict[str, int]:
    """Template id → person id in a device's sealed gallery cache (opened with its private key).

    Raises:
        FileNotFoundError: no cache yet. StorageError: the cache does not open with the device's key.
        KeyringError: the private key file is unusable.
    """
    keys, _ = load_or_create_device_key_pair(directory)
    state = json.loads(open_sealed(keys.private_key, (directory / CACHE_FILE).read_bytes(), _CACHE_AAD))
    return {template_id: int(person) for template_id, person, _ in state["added"]}


def http_sink(client: ApiClient, *, timeout_s: float) -> EventSink:
    """The audit log behind the API: `POST /devices/events`, which skips event ids it already holds."""

    def store(events: Sequence[AuditEventCreate]) -> int:
        body = {"events": [event.model_dump(mode="json", exclude_none=True) for event in events]}
        try:
            return int(client.post("/devices/events", body, timeout_s=timeout_s)["inserted"])
        except DeviceRefused as exc:  # a revoked key: the events wait in the journal for a new key
            raise UpstreamUnavailable(str(exc)) from exc

    return store


class ApiGallerySource:
    """The gallery and rules of this device's doors from the API; `gallery()` / `access()` for run_gate."""

    def __init__(
        self,
        config: ApiGallerySourceConfig,
        *,
        door: str,
        home: Path,
        recognizer: Recognizer,
        max_stale_s: float,
        monotonic: Callable[[], float],
        utc_now: Callable[[], datetime] = lambda: datetime.now(UTC),
        error_log_interval_s: float = 30.0,
    ) -> None:
        self._config = config
        self._door = door
        self._directory = config.device_dir or home / "device"
        self._recognizer = recognizer
        self._max_stale_s = max_stale_s
        self._monotonic = monotonic
        self._utc_now = utc_now
        self.client = ApiClient(str(config.url), api_key=config.api_key.get_secret_value(), utc_now=utc_now)
        self._keys: DeviceKeyPair | None = None
        self._token_id: str | None = None
        self._version: int | None = None
        self._epoch: str | None = None
        """The gallery's epoch at `_version` (None: an API or a cache of a release before epochs)."""
        self._has_asked = False
        """Whether a sync was answered since the start (the first, without an epoch, asks for a diff)."""
        self._templates: Templates = {}
        self._windows: dict[str, tuple[AccessWindow, ...]] = {}
        self._former_names: dict[str, str] = {}
        """Former name → name now, of this device's doors."""
        self._warned_name: str | None = None
        self._gallery = recognizer.new_gallery()
        self._confirmed_at_s: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem: str | None = None
        self._sync_failures = FailureLog(
            logger, _SYNC_FAILED, interval_s=error_log_interval_s, monotonic=monotonic
        )
        self._api_away = FailureLog(
            logger, _API_AWAY, interval_s=error_log_interval_s, monotonic=monotonic, is_traced=False
        )
        self._cache_failures = FailureLog(
            logger,
            _CACHE_NOT_WRITTEN,
            interval_s=error_log_interval_s,
            where=str(self._directory / CACHE_FILE),
            monotonic=monotonic,
            is_traced=False,
        )

    @property
    def version(self) -> int | None:
        return self._version

    @property
    def template_person_ids(self) -> dict[str, int]:
        """Template id → person id of what this gate holds (no template bytes)."""
        return {template_id: person for template_id, (person, _) in self._templates.items()}

    def start(self) -> None:
        """Load the key pair and the sealed cache, then start the sync thread.

        Raises:
            KeyringError: the key file is unusable (readable by others, wrong size).
        """
        self._keys, created = load_or_create_device_key_pair(self._directory)
        if created:
            logger.warning("device key pair created in %s (private key mode 0600)", self._directory)
        self._load_cache()
        self._thread = threading.Thread(target=self._run, name="gallery-sync", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the sync thread (it ends within one request timeout); safe to call more than once."""
        self._stop.set()
        self._thread = None

    def event_sink(self) -> EventSink:
        return http_sink(self.client, timeout_s=self._config.request_timeout_s)

    def gallery_confirmed_at_s(self) -> float | None:
        """When a sync (or the sealed cache, by its age) last confirmed the gallery, on the monotonic clock;
        None before any."""
        return self._confirmed_at_s

    def gallery(self) -> Gallery:
        """The gallery to decide on now.

        Raises:
            GalleryStale: no sync confirmed within `max_stale_s` (or none yet): every face is denied.
        """
        if self._confirmed_at_s is None:
            raise GalleryStale(f"no gallery from the API yet ({self._problem or 'first sync pending'})")
        age_s = self._monotonic() - self._confirmed_at_s
        if age_s > self._max_stale_s:
            raise GalleryStale(
                f"gallery last confirmed by the API {age_s:.0f} s ago (limit {self._max_stale_s:.0f} s; "
                f"{self._problem or 'no answer'}): every face is denied"
            )
        return self._gallery

    def access(self) -> DoorPolicy:
        """This door's rules as the API sent them, found by a former name too (with a warning).

        Raises:
            UnknownDoor: the door is not one of this device key's doors, by its name now or a former one.
        """
        name = self._door if self._door in self._windows else self._former_names.get(self._door)
        windows = None if name is None else self._windows.get(name)
        if name is None or windows is None:
            raise UnknownDoor(
                f"door {self._door!r} is none of this device key's doors {sorted(self._windows)}, "
                "by its name now or a former one; every face is denied"
            )
        if name != self._door and name != self._warned_name:
            warn_former_name(self._door, name)
        self._warned_name = name
        return DoorPolicy(door=self._door, windows=windows)

    def sync_once(self, *, wait_s: float) -> bool:
        """Register if needed, then one sync request; whether the gallery changed.

        Raises:
            UpstreamUnavailable, DeviceRefused: as `ApiClient.post`.
            StorageError: the answer does not open with this device's key.
        """
        keys = self._require_keys()
        timeout_s = self._config.request_timeout_s
        if self._token_id is None:
            public = base64.b64encode(keys.public_key).decode()
            answer = self.client.post("/devices/register", {"x25519_public_key": public}, timeout_s=timeout_s)
            self._token_id = str(answer["token_id"])
        body = self._sync_request(wait_s)
        answer = self.client.post("/devices/gallery", body, timeout_s=wait_s + timeout_s)
        sealed = answer.get("sealed_gallery")
        changed = sealed is not None
        if sealed is not None:
            version = int(answer["version"])
            payload = open_device_sync(
                keys.private_key, key_id=self._token_id, version=version, sealed=base64.b64decode(sealed)
            )
            self._apply(payload)
            self._save_cache()
        self._confirmed_at_s, self._problem, self._has_asked = self._monotonic(), None, True
        return changed

    def _sync_request(self, wait_s: float) -> dict[str, Any]:
        """What this gate holds. Its epoch only when it has one: an API of a release before epochs refuses
        an unknown field. Without one (a cache of such a release), the first sync names no version: a
        restore may have numbered another gallery as the one held, so the API answers what differs by
        template id, and with its epoch; an API without epochs then answers by version alone, as before."""
        body: dict[str, Any] = {
            "model_id": self._recognizer.model_id,
            "version": self._version if self._epoch is not None or self._has_asked else None,
            "template_ids": sorted(self._templates),
            "wait_s": wait_s,
        }
        if self._epoch is not None:
            body["epoch"] = self._epoch
        return body

    def _require_keys(self) -> DeviceKeyPair:
        if self._keys is None:
            raise GalleryStale("the gallery source was not started")
        return self._keys

    def _apply(self, payload: dict[str, Any]) -> None:
        if payload["model_id"] != self._recognizer.model_id:
            raise DeviceRefused(f"the API sent templates of model {payload['model_id']}")
        templates = dict(self._templates)
        for template_id in payload["removed"]:
            templates.pop(template_id, None)
        for template_id, person_id, data in payload["added"]:
            templates[template_id] = (int(person_id), base64.b64decode(data))
        windows = {
            door: tuple(window_from_json(w) for w in rules) for door, rules in payload["doors"].items()
        }
        # an API or a sealed cache of an earlier release sends no former names
        self._former_names = {str(old): str(now) for old, now in payload.get("former_names", {}).items()}
        epoch = payload.get("epoch")  # neither has an epoch either
        self._epoch = None if epoch is None else str(epoch)
        self._install(int(payload["version"]), templates, windows)
        logger.info(
            "gallery version %d from the API: %d templates (+%d -%d), doors %s",
            self._version,
            len(templates),
            len(payload["added"]),
            len(payload["removed"]),
            sorted(windows),
        )

    def _install(
        self,
        version: int,
        templates: dict[str, tuple[int, bytes]],
        windows: dict[str, tuple[AccessWindow, ...]],
    ) -> None:
        gallery = self._recognizer.new_gallery(
            (tid, person, data) for tid, (person, data) in templates.items()
        )
        self._templates, self._windows, self._gallery, self._version = templates, windows, gallery, version

    def _save_cache(self) -> None:
        keys = self._require_keys()
        state = {
            "version": self._version,
            "epoch": self._epoch,
            "model_id": self._recognizer.model_id,
            "confirmed_at": self._utc_now().isoformat(),
            "added": [[t, p, base64.b64encode(d).decode()] for t, (p, d) in self._templates.items()],
            "removed": [],
            "doors": {door: [window_to_json(w) for w in rules] for door, rules in self._windows.items()},
            "former_names": self._former_names,
        }
        path = self._directory / CACHE_FILE
        temporary = path.with_suffix(".tmp")
        sealed = seal_to_device(keys.public_key, json.dumps(state).encode(), _CACHE_AAD)
        # The gallery is installed and confirmed either way: a cache that cannot be written (disk full,
        # a read-only mount) costs only a start from an older gallery in an outage, so no sync failed.
        try:
            # Created 0600, never the umask's mode for a moment (write, then chmod); a temporary left by a
            # crash is removed first, as O_EXCL will not open it (its mode may be the umask's too).
            temporary.unlink(missing_ok=True)
            with os.fdopen(private_file(temporary, os.O_WRONLY | os.O_EXCL), "wb") as stream:
                stream.write(sealed)
            temporary.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            self._cache_failures.failed(exc, at=f"gallery version {self._version}")
            return
        self._cache_failures.recovered()

    def _load_cache(self) -> None:
        """The last synced gallery from disk, confirmed as of when it was written (never younger).

        Written after this machine's time now (a clock set back: a dead RTC battery, a step), its age is
        unknown: it is loaded (the first sync then asks only for what changed) but not confirmed, so every
        face is denied until the API confirms a gallery.
        """
        path = self._directory / CACHE_FILE
        if not path.exists():
            return
        try:
            state = json.loads(open_sealed(self._require_keys().private_key, path.read_bytes(), _CACHE_AAD))
            self._apply(state)
        except (OSError, StorageError, DeviceRefused, ValueError, KeyError) as exc:
            logger.error("sealed gallery cache %s unusable (%s); waiting for the API", path, exc)
            return
        confirmed_at = datetime.fromisoformat(state["confirmed_at"])
        age_s = (self._utc_now() - confirmed_at).total_seconds()
        if age_s < 0:
            logger.error(
                "sealed gallery cache %s was written at %s, after this machine's time now (a clock set "
                "back): its age is unknown; every face is denied until the API confirms a gallery",
                path,
                confirmed_at.isoformat(),
            )
            self._problem = "sealed gallery cache written after this machine's time now (a clock set back)"
            return
        self._confirmed_at_s = self._monotonic() - age_s

    def _run(self) -> None:
        """The sync loop: long-poll, apply, repeat; back off while the API is away or refuses, and wait at
        least the Retry-After the API asked for (up to `retry_max_s`)."""
        retry_s = _RETRY_INITIAL_S
        while not self._stop.is_set():
            away: UpstreamUnavailable | None = None
            try:
                self.sync_once(wait_s=self._config.long_poll_s)
            except ServerUnavailable as exc:  # reachable, but its database is not, or it failed (a 5xx)
                self._note_server_unavailable(exc)
                away = exc
            except NoAnswerInTime as exc:  # away, or still waiting for its database past our timeout
                self._note_api_away(f"API did not answer in time: {exc} (gallery_source.request_timeout_s)")
            except UpstreamUnavailable as exc:
                self._note_api_away(f"API unreachable: {exc}")
                away = exc
            except DeviceRefused as exc:
                self._note_refused(f"API refused this device: {exc}")
                retry_s = self._config.retry_max_s
            except Exception as exc:  # E4: top of the sync loop: log (one traceback), back off, go on
                held = f"gallery version {self._version} until it is stale"
                self._sync_failures.failed(exc, at=held if self._version is not None else "no gallery")
                self._problem = "sync failed"
            else:
                self._sync_failures.recovered()
                self._api_away.recovered()
                retry_s = _RETRY_INITIAL_S
                continue
            self._stop.wait(self._retry_wait_s(retry_s, away=away))
            retry_s = min(2.0 * retry_s, self._config.retry_max_s)

    def _retry_wait_s(self, backoff_s: float, *, away: UpstreamUnavailable | None) -> float:
        """The wait before the next sync: the backoff, or the API's Retry-After when longer (up to
        `retry_max_s`)."""
        if away is None or away.retry_after_s is None:
            logger.debug("gallery sync: next attempt in %.1f s", backoff_s)
            return backoff_s
        wait_s = away.wait_s(backoff_s, max_s=self._config.retry_max_s)
        logger.debug(
            "gallery sync: next attempt in %.1f s (the API's Retry-After: %g s)", wait_s, away.retry_after_s
        )
        return wait_s

    def _note_server_unavailable(self, exc: ServerUnavailable) -> None:
        """Any 5xx as the API away; a missing schema's first line is an error, since no wait ends it."""
        self._note_api_away(exc.problem, level=None if exc.is_passing else logging.ERROR)

    def _note_api_away(self, problem: str, *, level: int | None = None) -> None:
        """By its start (at `level`, else the texts'), a count per interval naming the latest problem, and its
        end (at the next sync)."""
        self._api_away.failed(problem, at=f"version {self._version}", level=level)
        self._problem = problem

    def _note_refused(self, problem: str) -> None:
        if self._problem != problem:
            logger.error("gallery sync: %s; deciding on version %s until stale", problem, self._version)
        self._problem = problem
