"""`facegate gate --check-config`: each door's settings resolved as its camera loop resolves them at start."""

from __future__ import annotations

from gate.config_file import DaemonSettings, GatesConfig
from gate.errors import ThresholdUnavailable, UnknownDoor
from gate.pad import PadGate, scope_label
from gate.settings import GateSettings, HttpWebhookDoorConfig, MqttDoorConfig
from gate.threshold import door_start_threshold
from recognition import RecognitionSettings, build_pad_detector, build_recognizer
from storage import DoorNotFound, StorageSettings, current_door_name, open_database, session_scope


def check_gate_config(config: GatesConfig | None, *, door: str | None = None) -> str:
    """Validate the settings the gate would run (the gates file's cameras, else the environment's); the lines
    to print when valid.

    The first line says the configuration is valid; a warning line follows for each door a database gate
    (`door` of the single-camera form, or a camera of the file) names that is no door's name now: a former
    name, or none of a gate set to `unknown_door: register` (it would register the door without rules:
    open to every enrolled person). A door that is none, of a gate whose `unknown_door` is refuse (the
    default), is an error instead (the gate would deny every face), checked once the thresholds and PAD
    settings pass. A warning line also follows for each edge gate (`gallery_source.kind: api`) whose
    request timeout is not above the API's database waits (_short_timeouts), and for each door whose
    timeout_s is not below the health check's camera silence limit (_slow_doors).

    Raises:
        pydantic.ValidationError, ConfigFileError: with every error's dotted path.
        ModelLoadError: a door's FPIR target needs the face models, or its PAD policy the PAD model, and
            it is missing or fails its sha256 (C3).
        ThresholdUnavailable: a door's FPIR target needs a calibration the model does not have, the PAD
            card has no threshold at a door's BPCER target, its track rule weighs a cue this gate does not
            know, or a door's own PAD calibration does not match the loaded PAD weights or the score the
            door decides by; naming every door that fails, not only the first.
        UnknownDoor: a database gate's door is no door's name, now or formerly, and its `unknown_door` is
            refuse; naming every such door and its camera.
    """
    settings = GateSettings()
    cameras = config.cameras if config is not None else []
    # the loops that would run: the gates file's cameras, else the single-camera form's (its door's name)
    running: list[DoorSettings] = [(camera.door, camera.name, camera.settings) for camera in cameras] or [
        (door or "(environment)", None, settings)
    ]
    refusals = [
        _numbered(refused, of=len(running), what=f"{what} cannot start")
        for what, refused in (
            ("match thresholds", _match_refusals(running)),
            ("PAD settings", _pad_refusals(running)),
        )
        if refused
    ]
    if refusals:
        raise ThresholdUnavailable("; ".join(refusals))
    checked: list[tuple[str, DoorSettings]] = (
        [("--door", (door, None, settings))] if config is None and door is not None else []
    )
    checked += [(f"cameras.{n}.door", (c.door, c.name, c.settings)) for n, c in enumerate(cameras)]
    warnings, unknown = _door_findings(
        [(path, spec) for path, spec in checked if spec[2].gallery_source.kind == "database"]
    )
    if unknown:
        raise UnknownDoor(_numbered(unknown, of=len(running), what="doors are unknown"))
    warnings += _short_timeouts(running)
    warnings += _slow_doors(running, config.daemon if config is not None else DaemonSettings())
    return "\n".join([f"configuration valid: {len(cameras) or 1} camera(s)", *warnings])


DoorSettings = tuple[str, str | None, GateSettings]
"""A door's name, its camera's name in the gates file (None: the environment's) and its settings."""


def _numbered(refusals: list[str], *, of: int, what: str) -> str:
    numbered = " ".join(f"({i}) {refusal}" for i, refusal in enumerate(refusals, start=1))
    return f"{len(refusals)} of {of} {what}: {numbered}"


def _match_refusals(doors: list[DoorSettings]) -> list[str]:
    """Each door whose FPIR target needs a calibration the model lacks, as its loop's start refuses it."""
    if all(door_settings.decision.fpir_target is None for _, _, door_settings in doors):
        return []  # the model's default threshold: nothing to resolve, no model to load
    recognizer = build_recognizer(RecognitionSettings(), cache_dir=StorageSettings().home / "models")
    refusals = []
    for door_name, name, door_settings in doors:
        try:
            door_start_threshold(
                recognizer, fpir_target=door_settings.decision.fpir_target, where=scope_label(door_name, name)
            )
        except ThresholdUnavailable as exc:
            refusals.append(str(exc))
    return refusals


def _pad_refusals(doors: list[DoorSettings]) -> list[str]:
    """Each door whose PAD settings cannot start, as its loop's PadGate refuses them."""
    if all(door_settings.pad.policy == "off" for _, _, door_settings in doors):
        return []
    detector = build_pad_detector(RecognitionSettings(), cache_dir=StorageSettings().home / "models")
    refusals = []
    for door_name, name, door_settings in doors:
        # what each camera's loop builds first: its rule, thresholds and door calibration check
        try:
            PadGate(door_settings.pad, detector, door=door_name, camera=name)
        except ThresholdUnavailable as exc:
            refusals.append(str(exc))
    return refusals


def _short_timeouts(doors: list[DoorSettings]) -> list[str]:
    """A warning for each edge gate whose request timeout is not above the API's database waits: as this
    environment sets them (a gate beside its API), else their defaults (an edge, which cannot know the
    API's). Past them the API answers 503 with Retry-After; a gate that gives up first never hears it."""
    storage = StorageSettings()
    waits_s = max(storage.database_sqlite_busy_timeout_s, storage.database_statement_timeout_s)
    warnings = []
    for door_name, name, door_settings in doors:
        source = door_settings.gallery_source
        if source.kind != "api" or source.request_timeout_s > waits_s:
            continue
        warnings.append(
            f"warning: {scope_label(door_name, name)}: gallery_source.request_timeout_s "
            f"({source.request_timeout_s:g} s) is not above the API's database waits ({waits_s:g} s: "
            "FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S, FACEGATE_DATABASE_STATEMENT_TIMEOUT_S, as set here or "
            "by default): while another session holds a lock the gate gives up before the API answers 503 "
            "with Retry-After, and sends it another request that waits on the same lock"
        )
    return warnings


def _slow_doors(doors: list[DoorSettings], daemon: DaemonSettings) -> list[str]:
    """A warning for each door whose unlock may wait (timeout_s) as long as /healthz lets a camera be silent:
    the camera loop waits for the unlock, taking no frame meanwhile, so a slow door that still answers makes
    a working camera unhealthy. Nothing when /healthz is off (daemon.http_port 0)."""
    if daemon.http_port == 0:
        return []
    silence_s = daemon.max_camera_silence_s
    warnings = []
    for door_name, name, door_settings in doors:
        door_config = door_settings.door
        if not isinstance(door_config, HttpWebhookDoorConfig | MqttDoorConfig):
            continue  # log_only and gpio_relay doors do not wait for an answer
        timeout_s = door_config.timeout_s
        if timeout_s < silence_s:
            continue
        warnings.append(
            f"warning: {scope_label(door_name, name)}: door.timeout_s ({timeout_s:g} s) is not below "
            f"daemon.max_camera_silence_s ({silence_s:g} s): the camera loop takes no frame while it waits "
            "for the door, so a slow unlock makes a working camera look silent and /healthz answers 503"
        )
    return warnings


def _door_findings(doors: list[tuple[str, DoorSettings]]) -> tuple[list[str], list[str]]:
    """The warnings, and the errors, for each (dotted path, door) of a database gate that names no door now.

    Raises:
        DatabaseUnavailable, MigrationFailed: the database the gates use cannot be opened.
    """
    if not doors:
        return [], []
    engine = open_database(StorageSettings())
    warnings, unknown = [], []
    try:
        with session_scope(engine) as session:
            for path, (door, camera, door_settings) in doors:
                try:
                    name = current_door_name(session, door)
                except DoorNotFound:
                    if door_settings.unknown_door == "refuse":
                        unknown.append(
                            f"{scope_label(door, camera)}: no door is called {door!r}, now or before a "
                            "rename, and unknown_door is refuse: the gate would deny every face (register "
                            "the door first: facegate doors create, POST /doors or the console's Access page)"
                        )
                        continue
                    warnings.append(
                        f"warning: {path}: no door is called {door!r}, now or before a rename: the gate will "
                        "register it without rules, and a door without rules admits every enrolled person "
                        "(register the door first: facegate doors create, POST /doors or the console's "
                        "Access page, or set "
                        "unknown_door: refuse)"
                    )
                    continue
                if name != door:
                    warnings.append(
                        f"warning: {path}: {door!r} is a former name of door {name!r}: the gate applies "
                        f"that door's rules under it and warns; set {path} to {name!r}"
                    )
    finally:
        engine.dispose()
    return warnings, unknown
