"""`facegate demo`: enroll real people, film a door camera video from other photos, run the gate on it."""

from __future__ import annotations

import importlib.util
import shutil
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import typer
from rich.text import Text

from api.cli.consoles import err_console, print_table, wide_console
from api.cli.demo_data import DemoData, Scene, group_photo_data, knn_examples_data
from api.cli.events_table import events_table
from api.cli.runtime import Runtime, cli_errors, enroll_new_person, open_runtime
from gate import (
    PRESENTATION_ATTACK,
    DecisionSettings,
    GateDecision,
    GateSettings,
    LogOnlyDoorConfig,
    PadSettings,
    describe,
    gate_decisions,
)
from recognition import (
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    BgrImage,
    PadCard,
    PresentationAttackDetector,
    RecognitionSettings,
    build_pad_detector,
    read_pad_card,
    write_pad_card,
)
from storage import (
    Decision,
    EventFilter,
    StorageSettings,
    create_door,
    get_person,
    query_events,
    session_scope,
)

console = wide_console(min_columns=130)  # the audit table's columns side by side

FRAME_SIZE_PX = (1280, 720)
GAP_FRAMES = 7  # longer than the tracker's memory, so each scene starts fresh tracks
VIDEO_FPS = 10.0
DOOR = "front-door"


def _fit(image: BgrImage) -> BgrImage:
    """Letterbox a photo into one camera frame."""
    width, height = FRAME_SIZE_PX
    scale = min(width / image.shape[1], height / image.shape[0], 2.0)
    resized = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)))
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    frame[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return frame


def write_video(scenes: list[Scene], path: Path, *, frames_per_scene: int) -> list[range]:
    """Write an MJPG video: each scene held for some frames, black gaps between; returns frame ranges."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), VIDEO_FPS, FRAME_SIZE_PX)
    blank = np.zeros((FRAME_SIZE_PX[1], FRAME_SIZE_PX[0], 3), dtype=np.uint8)
    ranges, index = [], 0
    for scene in scenes:
        frame = _fit(scene.image)
        for _ in range(frames_per_scene):
            writer.write(frame)
        ranges.append(range(index, index + frames_per_scene))
        for _ in range(GAP_FRAMES):
            writer.write(blank)
        index += frames_per_scene + GAP_FRAMES
    writer.release()
    return ranges


def _enroll_all(runtime: Runtime, data: DemoData) -> dict[int, str]:
    names = {}
    for name, photos in data.enroll.items():
        person_id = enroll_new_person(runtime, name, photos)
        names[person_id] = name
        console.print(
            f"enrolled {name} (person {person_id}) from {', '.join(p.name for p in photos)}", markup=False
        )
    return names


def _check_scene(scene: Scene, decisions: list[GateDecision], names: dict[int, str]) -> bool:
    granted = {
        names[d.verdict.person_id]
        for d in decisions
        if d.verdict.decision is Decision.granted and d.verdict.person_id is not None
    }
    denied = [d for d in decisions if d.verdict.decision is Decision.denied]
    attacks = sum(1 for d in denied if d.verdict.reason == PRESENTATION_ATTACK)
    unknown = len(denied) - attacks
    ok = granted == scene.expected_granted and (unknown, attacks) == (
        scene.expected_unknown,
        scene.expected_attacks,
    )
    expected = (
        f"granted {sorted(scene.expected_granted) or 'nobody'}, {scene.expected_unknown} denied unknown, "
        f"{scene.expected_attacks} denied {PRESENTATION_ATTACK}"
    )
    actual = (
        f"granted {sorted(granted) or 'nobody'}, {unknown} denied unknown, "
        f"{attacks} denied {PRESENTATION_ATTACK}"
    )
    mark = ("as expected", "green") if ok else ("UNEXPECTED", "red")
    console.print(
        Text.assemble(f"  {scene.label}: {actual} — ", mark, "" if ok else f" (expected {expected})")
    )
    return ok


def demo_pad_detector(demo_models: Path, data_dir: Path) -> PresentationAttackDetector | None:
    """The demo's own PAD stage, or None when no MiniFASNet can be had (the phone-screen scene is skipped).

    Its card in `demo_models` holds only the nets, so the demo decides by the authors' rule whatever
    calibration or track rule a user's card carries: the scene check must not depend on a user's home.
    """
    card_dir = demo_models / PAD_CARD_DIR
    if not _write_demo_pad_card(card_dir, data_dir):
        return None
    return build_pad_detector(RecognitionSettings(model_dir=card_dir, bundle_dirs=[]), cache_dir=demo_models)


def _write_demo_pad_card(card_dir: Path, data_dir: Path) -> bool:
    """Copy the nets already converted into FACEGATE_HOME/models or the model directory onto a card of the
    demo's own, or convert them now from the shared data's MiniFASNet state dicts when torch (the `train`
    extra) is installed; False when neither can be done."""
    for candidate in (StorageSettings().home / "models" / PAD_CARD_DIR, *_model_dirs()):
        if (candidate / PAD_CARD_FILE).is_file():
            card = read_pad_card(candidate / PAD_CARD_FILE)
            card_dir.mkdir(parents=True, exist_ok=True)
            for net in card.nets:
                shutil.copyfile(candidate / net.file, card_dir / net.file)
            write_pad_card(PadCard(model_id=card.model_id, nets=card.nets), card_dir / PAD_CARD_FILE)
            console.print(
                f"PAD: MiniFASNet from {candidate}, decided by the authors' rule (the demo does not use a "
                "calibration or track rule a card carries)",
                markup=False,
            )
            return True
    source = data_dir / "weights" / "minifasnet"
    if importlib.util.find_spec("torch") is None or not source.is_dir():
        console.print(
            "PAD: no converted MiniFASNet and no torch or shared data to convert it: the phone-screen scene "
            "is skipped (pip install -e '.[train]' and run `facegate pad export`)",
            markup=False,  # `[train]` is not a style
        )
        return False
    from training.pad_export import export_pad_models

    export_pad_models(source, card_dir)
    console.print(
        f"PAD: converted MiniFASNet to ONNX in {card_dir} (authors' rule, uncalibrated)", markup=False
    )
    return True


def _model_dirs() -> list[Path]:
    model_dir = RecognitionSettings().model_dir
    return [model_dir / PAD_CARD_DIR] if model_dir else []


def demo_command(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Shared data directory (default: FACEGATE_DATA_DIR, else ../shared/data)."),
    ] = None,
    frames_per_scene: Annotated[
        int, typer.Option(min=3, help="Frames each photo is held in front of the camera.")
    ] = 8,
) -> None:
    """Enroll people from real photos, run the gate on a video of other photos, print decisions and audit."""
    settings = StorageSettings()
    demo_home = settings.home / "demo"
    shutil.rmtree(demo_home, ignore_errors=True)
    with (
        cli_errors(),
        open_runtime(
            StorageSettings(home=demo_home, database_url=None, master_key=None, key_file=None),
            create_key=True,
        ) as runtime,
    ):
        data = knn_examples_data((data_dir or RecognitionSettings().data_dir) / "faces") or group_photo_data(
            runtime.recognizer
        )
        if data is None:
            err_console.print(
                "error: no demo photos: neither shared data nor insightface's sample photos were found",
                highlight=False,
            )
            raise typer.Exit(1)
        console.print(Text.assemble(("data:", "bold"), f" {data.description}"), highlight=False)
        console.print(
            f"database: {runtime.storage.resolved_database_url}; model: {runtime.recognizer.model_id}"
        )
        names = _enroll_all(runtime, data)
        pad = demo_pad_detector(demo_home / "models", data_dir or RecognitionSettings().data_dir)
        if pad is None:
            data = replace(data, scenes=[scene for scene in data.scenes if not scene.expected_attacks])
        video = demo_home / "door-camera.avi"
        ranges = write_video(data.scenes, video, frames_per_scene=frames_per_scene)
        console.print(f"video: {video} ({len(data.scenes)} scenes); running the gate on door {DOOR!r}")
        per_scene: dict[int, list[GateDecision]] = defaultdict(list)
        # The demo never drives a configured door, and its scenes follow each other faster than real time,
        # so a person shown again (Obama, Kit Harington) is decided again: no per-person cooldown.
        gate_settings = GateSettings(
            door=LogOnlyDoorConfig(),
            decision=DecisionSettings(cooldown_s=0.0),
            pad=PadSettings(policy="off" if pad is None else "enforce"),
        )
        with session_scope(runtime.engine) as session:  # as an admin would: a gate may refuse unknown doors
            create_door(session, name=DOOR)
        decisions = gate_decisions(runtime, source=str(video), door=DOOR, settings=gate_settings, pad=pad)
        for decision in decisions:
            console.print("  " + describe(runtime, decision), markup=False, highlight=False)
            scene_index = next(i for i, r in enumerate(ranges) if decision.frame_index in r)
            per_scene[scene_index].append(decision)
        console.print("scenes", style="bold")
        all_ok = all([_check_scene(scene, per_scene[i], names) for i, scene in enumerate(data.scenes)])
        with session_scope(runtime.engine) as session:
            events, total = query_events(session, where=EventFilter(door=DOOR), limit=1000)
            person_names = {pid: get_person(session, pid).name for pid in names}
        print_table(
            events_table(events, title=f"audit log: {total} events (person ids; names: {person_names})"),
            on=console,
        )
    granted = sum(1 for e in events if e.decision is Decision.granted)
    console.print(
        f"{granted} granted, {total - granted} denied; "
        + ("all scenes as expected" if all_ok else "SOME SCENES WRONG")
    )
    if not all_ok:
        raise typer.Exit(1)
