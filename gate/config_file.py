"""Several cameras on one host from one YAML file (`facegate gate --config gates.yaml`).

```yaml
daemon:                 # optional: DaemonSettings of this host (monitoring address, log format, restarts)
  http_port: 9464
defaults:               # optional: GateSettings overrides for every camera
  decision: {votes_required: 3}
  unknown_door: refuse  # the default: a misspelt door denies every face (`register`: registered open)
cameras:
  - name: front-cam     # unique; the `camera` label of metrics and logs
    source: rtsp://user:secret@10.0.0.5/stream1
    door: front
    settings:           # optional: GateSettings overrides for this camera only
      door: {kind: mqtt, topic: site/front/unlock}
```

Each camera's settings are the environment's (FACEGATE_GATE_*), then `defaults`, then its own
`settings`, merged key by key; a nested section whose `kind` changes is replaced, not merged. The
result is validated as `GateSettings`, so every field that class has (doors, decision policy, ...)
works here without code in this module. Every error in the file is reported at once, each with its
dotted path (`cameras.1.settings.door.mqtt.topic: Field required`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from gate.errors import GateError
from gate.logging_format import LogFormat
from gate.settings import GateSettings
from recognition import RecognitionSettings
from storage import StorageSettings

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(GateError):
    """The gates file cannot be read or is invalid; the message lists every error with its dotted path."""


class DaemonSettings(BaseSettings):
    """Host-level settings of the gate process (not per camera). Environment: FACEGATE_GATE_DAEMON_*."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_GATE_DAEMON_", extra="forbid")
    http_host: str = Field(
        "127.0.0.1", min_length=1, description="Address /metrics and /healthz bind to (they need no API key)."
    )
    http_port: int = Field(
        9464, ge=0, le=65535, description="TCP port of /metrics and /healthz; 0 turns them off."
    )
    log_format: LogFormat = Field("text", description="`text` for people, `json` for one JSON object a line.")
    max_camera_silence_s: float = Field(
        30.0,
        gt=0.0,
        le=3600.0,
        description="/healthz answers 503 when a camera delivered no frame for longer, in s.",
    )
    restart_initial_s: float = Field(
        1.0,
        gt=0.0,
        le=600.0,
        description="Wait before restarting a dead camera worker, in s; doubles each time.",
    )
    restart_max_s: float = Field(
        60.0,
        gt=0.0,
        le=3600.0,
        description="Longest wait between restarts; a worker up this long resets it, in s.",
    )
    stop_timeout_s: float = Field(
        10.0,
        gt=0.0,
        le=120.0,
        description="Time a camera worker gets to stop after SIGTERM before it is killed, in s, on top of "
        "its camera's camera_timeout_s and journal_drain_timeout_s (a blocked open, the last delivery).",
    )


GATE_PROCESS_SETTINGS: tuple[type[BaseSettings], ...] = (
    StorageSettings,
    RecognitionSettings,
    GateSettings,
    DaemonSettings,
)
"""The settings classes the gate process and its camera workers read."""
GATE_PREFIXES = ("FACEGATE_GATE_", "FACEGATE_RECOGNITION_")
"""The variables the gate judges on its own (StorageSettings judges the short names itself)."""


class _CameraEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", description="Unique camera id.")
    source: str = Field(min_length=1, description="Camera index, stream URL, video file or image folder.")
    door: str = Field(min_length=1, max_length=100, description="Name of the door this camera controls.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="GateSettings overrides (checked apart)."
    )


class _GatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    daemon: dict[str, Any] = Field(default_factory=dict, description="DaemonSettings overrides.")
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="GateSettings overrides for all cameras."
    )
    cameras: list[dict[str, Any]] = Field(min_length=1, description="The cameras, started in this order.")


@dataclass(frozen=True)
class CameraSpec:
    """One camera of the host with its fully validated gate settings."""

    name: str
    source: str
    door: str
    settings: GateSettings


@dataclass(frozen=True)
class GatesConfig:
    """The validated gates file."""

    daemon: DaemonSettings
    cameras: list[CameraSpec]


def merge_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` on top of `base`, nested dicts merged key by key unless their `kind` differs."""
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if (
            isinstance(current, dict)
            and isinstance(value, dict)
            and current.get("kind") == value.get("kind", current.get("kind"))
        ):
            merged[key] = merge_overrides(current, value)
        else:
            merged[key] = value
    return merged


def _errors(exc: ValidationError, prefix: str) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in (prefix, *error['loc']) if part != '')}: {error['msg']}"
        for error in exc.errors()
    ]


def _read(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: not valid YAML: {exc}") from exc


def _validated(model: type[M], data: object, prefix: str, problems: list[str]) -> M | None:
    """`model` validated from `data`, or None with each error appended to `problems` under `prefix`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems += _errors(exc, prefix)
        return None


def _camera(
    number: int, raw: dict[str, Any], *, base: dict[str, Any], problems: list[str]
) -> CameraSpec | None:
    entry = _validated(_CameraEntry, raw, f"cameras.{number}", problems)
    overrides = raw.get("settings")
    overrides = overrides if isinstance(overrides, dict) else {}
    settings = _validated(
        GateSettings, merge_overrides(base, overrides), f"cameras.{number}.settings", problems
    )
    if entry is None or settings is None:
        return None
    return CameraSpec(name=entry.name, source=entry.source, door=entry.door, settings=settings)


def _shared_journals(cameras: list[CameraSpec]) -> list[str]:
    """Each worker locks its event journal directory (per door by default): two cameras cannot share one."""
    owners: dict[str, str] = {}
    problems = []
    for number, camera in enumerate(cameras):
        journal_dir = camera.settings.journal_dir
        key = f"door {camera.door!r}" if journal_dir is None else str(journal_dir)
        if key in owners:
            problems.append(
                f"cameras.{number}.settings.journal_dir: {camera.name!r} would share the journal of {key} "
                f"with {owners[key]!r}; give each camera its own journal_dir"
            )
        owners.setdefault(key, camera.name)
    return problems


def load_gates_file(path: Path) -> GatesConfig:
    """Read and validate a gates file; environment settings apply underneath it.

    Raises:
        ConfigFileError: unreadable, not YAML, or invalid; every problem on its own line with its dotted path.
    """
    problems: list[str] = []
    parsed = _validated(_GatesFile, _read(path), "", problems)
    if parsed is None:
        raise ConfigFileError("\n".join([f"{path}: invalid", *problems]))
    daemon = _validated(
        DaemonSettings, {**DaemonSettings().model_dump(), **parsed.daemon}, "daemon", problems
    )
    base = merge_overrides(GateSettings().model_dump(), parsed.defaults)
    if _validated(GateSettings, base, "defaults", problems) is None:
        raise ConfigFileError("\n".join([f"{path}: invalid", *problems]))
    cameras = [
        _camera(number, raw, base=base, problems=problems) for number, raw in enumerate(parsed.cameras)
    ]
    names = [raw.get("name") for raw in parsed.cameras]
    problems += [
        f"cameras.{number}.name: duplicate camera name {name!r}"
        for number, name in enumerate(names)
        if name in names[:number]
    ]
    problems += _shared_journals([camera for camera in cameras if camera is not None])
    if problems or daemon is None:
        raise ConfigFileError("\n".join([f"{path}: invalid", *problems]))
    return GatesConfig(daemon=daemon, cameras=[camera for camera in cameras if camera is not None])
