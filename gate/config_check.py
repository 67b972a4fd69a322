"""`facegate gate --check-config`: each door's settings resolved as its camera loop resolves them at start."""

from __future__ import annotations

from gate.config_file import GatesConfig
from gate.errors import ThresholdUnavailable
from gate.pad import PadGate, scope_label
from gate.settings import GateSettings
from gate.threshold import door_start_threshold
from recognition import RecognitionSettings, build_pad_detector, build_recognizer
from storage import DoorNotFound, StorageSettings, current_door_name, open_database, session_scope


def check_gate_config(config: GatesConfig | None, *, door: str | None = None) -> str:
    """Validate the settings the gate would run (the gates file's cameras, else the environment's); the lines
    to print when valid.

    The first line says the configuration is valid; a warning line follows for each door a database gate
    (`door` of the single-camera form, or a camera of the file) names that is no door's name now: none
    (the gate would register it without rules: open to every enrolled person) or a former name.

    Raises:
        pydantic.ValidationError, ConfigFileError: with every error's dotted path.
        ModelLoadError: a door's FPIR target needs the face models, or its PAD policy the PAD model, and
            it is missing or fails its sha256 (C3).
        ThresholdUnavailable: a door's FPIR target needs a calibration the model does not have, the PAD
            card has no threshold at a door's BPCER target, its track rule weighs a cue this gate does not
            know, or a door's own PAD calibration does not match the loaded PAD weights or the score the
            door decides by; naming every door that fails, not only the first.
    """
    settings = GateSettings()
    cameras = config.cameras if config is not None else []
    # the loops that would run: the gates file's cameras, else the single-camera form's (its door's name)
    running: list[DoorSettings] = [(camera.door, camera.name, camera.settings) for camera in cameras] or [
        (door or "(environment)", None, settings)
    ]
    refusals = [
        _numbered(refused, of=len(running), what=what)
        for what, refused in (
            ("match thresholds", _match_refusals(running)),
            ("PAD settings", _pad_refusals(running)),
        )
        if refused
    ]
    if refusals:
        raise ThresholdUnavailable("; ".join(refusals))
    checked = [("--door", door, settings)] if config is None and door is not None else []
    checked += [(f"cameras.{n}.door", camera.door, camera.settings) for n, camera in enumerate(cameras)]
    warnings = _door_warnings(
        [(path, name) for path, name, s in checked if s.gallery_source.kind == "database"]
    )
    return "\n".join([f"configuration valid: {len(cameras) or 1} camera(s)", *warnings])


DoorSettings = tuple[str, str | None, GateSettings]
"""A door's name, its camera's name in the gates file (None: the environment's) and its settings."""


def _numbered(refusals: list[str], *, of: int, what: str) -> str:
    numbered = " ".join(f"({i}) {refusal}" for i, refusal in enumerate(refusals, start=1))
    return f"{len(refusals)} of {of} {what} cannot start: {numbered}"


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


def _door_warnings(doors: list[tuple[str, str]]) -> list[str]:
    """A warning for each (dotted path, door name) of a database gate that names no door now.

    Raises:
        DatabaseUnavailable, MigrationFailed: the database the gates use cannot be opened.
    """
    if not doors:
        return []
    engine = open_database(StorageSettings())
    warnings = []
    try:
        with session_scope(engine) as session:
            for path, door in doors:
                try:
                    name = current_door_name(session, door)
                except DoorNotFound:
                    warnings.append(
                        f"warning: {path}: no door is called {door!r}, now or before a rename: the gate will "
                        "register it without rules, and a door without rules admits every enrolled person "
                        "(register the door first: POST /doors or the console's Access page)"
                    )
                    continue
                if name != door:
                    warnings.append(
                        f"warning: {path}: {door!r} is a former name of door {name!r}: the gate applies "
                        f"that door's rules under it and warns; set {path} to {name!r}"
                    )
    finally:
        engine.dispose()
    return warnings
