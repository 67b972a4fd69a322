"""Gate throughput and decision latency on this CPU, against face_recognition (dlib) on the same frames.

Builds 640×480 door-camera videos (MJPG, written with cv2.VideoWriter) from real photos: one face
(face_recognition's example photos of Obama: two enrolled, a third presented) and five faces (five
LFW people, each enrolled from one photo and presented with another). Then, on each video:

- the production gate path: `gate.gate_decisions` (video reader, recognizer, gallery from an
  encrypted SQLite store, access policy, k-of-n decision, log-only door, audit journal), timed from
  outside by the same `gate.CameraProbe` that feeds /metrics;
- the peer: face_recognition.face_locations + face_encodings (dlib HOG + ResNet, its defaults) on the
  same decoded frames.

"stream" videos show the faces on every frame (a person standing at the door): frames/s. "latency"
videos show them for 8 frames, then none for 8 (the track ends), repeatedly, with no cooldown:
decision latency is from taking the first frame a face is on to the decision leaving run_gate
(door driven, event journalled). Progress goes to stderr; the last stdout line is one JSON object.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/pip install --no-deps face_recognition==1.3.0
    .venv/bin/python bench/gate.py                # --frames 150 --peer-frames 60 --episodes 8
    .venv/bin/python bench/gate.py --pad enforce --pad-dir "$FACEGATE_HOME/models" --peer-frames 0
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from base64 import urlsafe_b64encode
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import cv2
import numpy as np

from enrollment import EnrollmentSettings, Photo, enroll_new_person
from gate import (
    CameraProbe,
    DecisionMade,
    FrameSeen,
    GateRuntime,
    GateSettings,
    StageTimed,
    TelemetryEvent,
    build_gate_runtime,
    gate_decisions,
)
from recognition import BgrImage, RecognitionSettings
from storage import StorageSettings, create_door, session_scope

WIDTH_PX, HEIGHT_PX = 640, 480
FPS_NOMINAL = 15
DOOR = "bench"
ONE_FACE_SLOTS = [(200, 110, 250)]  # (x, y, size) of each pasted face crop
FIVE_FACE_SLOTS = [(20, 30, 180), (230, 30, 180), (440, 30, 180), (125, 265, 180), (335, 265, 180)]


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def face_crop(runtime: GateRuntime, image: BgrImage, size_px: int) -> BgrImage:
    """The largest face with a half-box margin, resized to size_px square."""
    faces = runtime.recognizer.detect(image)
    x1, y1, x2, y2 = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])).bbox
    pad = max(x2 - x1, y2 - y1) // 2
    crop = image[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad]
    return np.asarray(cv2.resize(crop, (size_px, size_px), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def frame_of(crops: list[BgrImage], slots: list[tuple[int, int, int]], index: int) -> BgrImage:
    """A grey frame with each crop at its slot, shifted 0..18 px right (a person shifting on the spot)."""
    frame = np.full((HEIGHT_PX, WIDTH_PX, 3), 96, dtype=np.uint8)
    drift_px = 2 * (index % 10)
    for crop, (x, y, size) in zip(crops, slots, strict=True):
        frame[y : y + size, x + drift_px : x + drift_px + size] = crop
    return frame


def write_video(path: Path, frames: list[BgrImage]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS_NOMINAL, (WIDTH_PX, HEIGHT_PX))
    for frame in frames:
        writer.write(frame)
    writer.release()


def read_video(path: Path) -> list[BgrImage]:
    capture = cv2.VideoCapture(str(path))
    frames: list[BgrImage] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            capture.release()
            return frames
        frames.append(np.asarray(frame, dtype=np.uint8))


def enroll_photos(runtime: GateRuntime, name: str, paths: list[Path]) -> None:
    photos = [Photo(name=p.name, data=p.read_bytes()) for p in paths]
    with session_scope(runtime.engine) as session:
        enroll_new_person(
            session,
            runtime.keyring,
            runtime.recognizer,
            name=name,
            photos=photos,
            settings=EnrollmentSettings(),
        )


def one_face_crops(runtime: GateRuntime, faces_dir: Path) -> list[BgrImage]:
    """Obama enrolled from knn_examples/train/obama (two photos), presented from test/obama1.jpg."""
    knn = faces_dir / "face-recognition-examples" / "examples" / "knn_examples"
    enroll_photos(runtime, "person-1", sorted((knn / "train" / "obama").glob("*.jpg")))
    photo = runtime.recognizer.decode((knn / "test" / "obama1.jpg").read_bytes())
    return [face_crop(runtime, photo, ONE_FACE_SLOTS[0][2])]


def five_face_crops(runtime: GateRuntime, faces_dir: Path) -> list[BgrImage]:
    """The first five LFW people (by name) with two or more photos: enrolled from one, shown another."""
    lfw = faces_dir / "lfw" / "lfw-deepfunneled"
    people = [d for d in sorted(lfw.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2][:5]
    crops = []
    for number, person in enumerate(people):
        first, second = sorted(person.glob("*.jpg"))[:2]
        enroll_photos(runtime, f"person-lfw-{number}", [first])
        crops.append(
            face_crop(runtime, runtime.recognizer.decode(second.read_bytes()), FIVE_FACE_SLOTS[number][2])
        )
    return crops


@dataclass
class GateRun:
    """What the probe saw during one gate run. Events carry (wall, process CPU) times of their arrival;
    stage durations are process CPU seconds (every thread), which the other jobs on a shared machine
    do not inflate: on an idle machine a stage takes at most its CPU time (less where OpenCV uses both
    cores)."""

    frame_taken_s: list[tuple[float, float]] = field(default_factory=list)
    decisions: list[tuple[tuple[float, float], DecisionMade]] = field(default_factory=list)
    stage_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def __call__(self, event: TelemetryEvent) -> None:
        if isinstance(event, FrameSeen):
            self.frame_taken_s.append((time.monotonic(), time.process_time()))
        elif isinstance(event, StageTimed):
            self.stage_s[event.stage].append(event.seconds)
        elif isinstance(event, DecisionMade):
            self.decisions.append(((time.monotonic(), time.process_time()), event))


def run_gate_path(runtime: GateRuntime, video: Path, settings: GateSettings) -> GateRun:
    run = GateRun()
    probe = CameraProbe(camera="bench", door=DOOR, telemetry=run, clock=time.process_time)
    started_s, started = time.monotonic(), os.times()
    for _ in gate_decisions(runtime, source=str(video), door=DOOR, settings=settings, probe=probe):
        pass
    run.wall_s, ended = time.monotonic() - started_s, os.times()
    run.cpu_s = (ended.user - started.user) + (ended.system - started.system)
    return run


def run_peer(frames: list[BgrImage], faces_expected: int) -> dict[str, float]:
    """face_recognition's detect-and-encode path on the decoded frames (its defaults: HOG, upsample 1)."""
    import face_recognition  # the `bench` extra; imported here so --help works without it

    started_s, started_cpu_s = time.monotonic(), time.process_time()
    complete = 0
    for frame in frames:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        locations = face_recognition.face_locations(rgb)
        encodings = face_recognition.face_encodings(rgb, locations)
        complete += len(encodings) >= faces_expected
    wall_s, cpu_s = time.monotonic() - started_s, time.process_time() - started_cpu_s
    return {
        "fps": len(frames) / wall_s,
        "cpu_ms_per_frame": 1000.0 * cpu_s / len(frames),
        "frames_with_all_faces": complete,
        "frames": len(frames),
    }


def latency_ms(run: GateRun, *, present: int, cycle: int, clock: int) -> list[float]:
    """Per decision: from taking the first frame of its episode to the decision leaving run_gate, in
    wall (clock 0) or process CPU (clock 1) milliseconds."""
    return [
        1000.0 * (decided[clock] - run.frame_taken_s[(event.frame_index // cycle) * cycle][clock])
        for decided, event in run.decisions
        if event.frame_index % cycle < present
    ]


def stage_ms(run: GateRun) -> dict[str, dict[str, float]]:
    """Per stage: calls, mean, median and minimum in ms (the minimum is what an idle machine approaches)."""
    return {
        stage: {
            "calls": len(values),
            "mean": round(1000.0 * statistics.fmean(values), 2),
            "median": round(1000.0 * statistics.median(values), 2),
            "min": round(1000.0 * min(values), 2),
        }
        for stage, values in sorted(run.stage_s.items())
    }


def scenario(
    runtime: GateRuntime,
    work: Path,
    name: str,
    crops: list[BgrImage],
    slots: list[tuple[int, int, int]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    present, absent = 8, 8
    stream = [frame_of(crops, slots, i) for i in range(args.frames)]
    episodes = [
        frame_of(crops, slots, i) if i % (present + absent) < present else frame_of([], [], i)
        for i in range((present + absent) * args.episodes)
    ]
    write_video(work / f"{name}-stream.avi", stream)
    write_video(work / f"{name}-latency.avi", episodes)
    log(f"{name}: gate on {args.frames} stream frames ...")
    pad = {"policy": args.pad}
    stream_run = run_gate_path(runtime, work / f"{name}-stream.avi", GateSettings(pad=pad))
    fps = len(stream_run.frame_taken_s) / stream_run.wall_s
    log(
        f"{name}: gate {fps:.1f} frames/s, {len(stream_run.decisions)} decisions; "
        f"{1000.0 * stream_run.cpu_s / len(stream_run.frame_taken_s):.0f} CPU ms a frame; "
        f"stages CPU ms {stage_ms(stream_run)}"
    )
    log(f"{name}: gate on {args.episodes} arrive-and-leave episodes ...")
    latency_run = run_gate_path(
        runtime, work / f"{name}-latency.avi", GateSettings(decision={"cooldown_s": 0.0}, pad=pad)
    )
    latencies = latency_ms(latency_run, present=present, cycle=present + absent, clock=0)
    cpu_latencies = latency_ms(latency_run, present=present, cycle=present + absent, clock=1)
    arrivals_fps = len(latency_run.frame_taken_s) / latency_run.wall_s
    granted = sum(event.decision == "granted" for _, event in latency_run.decisions)
    log(
        f"{name}: {len(latencies)} decisions ({granted} granted), "
        f"latency median {statistics.median(latencies):.0f} ms"
    )
    reasons = sorted({e.reason for _, e in latency_run.decisions})
    result = {
        "fps": round(fps, 2),
        "stream_decisions": [e.decision for _, e in stream_run.decisions],
        "cpu_ms_per_frame": round(1000.0 * stream_run.cpu_s / len(stream_run.frame_taken_s), 1),
        "stage_cpu_ms_stream": stage_ms(stream_run),
        "stage_cpu_ms_latency": stage_ms(latency_run),
        "fps_arrivals": round(arrivals_fps, 2),
        "decision_latency_ms_median": round(statistics.median(latencies), 1),
        "decision_latency_ms_max": round(max(latencies), 1),
        "decision_latency_cpu_ms_median": round(statistics.median(cpu_latencies), 1),
        "decided_on_episode_frame": sorted(
            {e.frame_index % (present + absent) for _, e in latency_run.decisions}
        ),
        "latency_decisions": len(latencies),
        "latency_granted": granted,
        "latency_reasons": reasons,
    }
    if args.peer_frames == 0:
        return result
    log(f"{name}: peer (face_recognition) on the first {args.peer_frames} of the same stream frames ...")
    decoded = read_video(work / f"{name}-stream.avi")[: args.peer_frames]  # decoded beforehand, untimed
    peer = run_peer(decoded, len(crops))
    log(
        f"{name}: peer {peer['fps']:.2f} frames/s, "
        f"all faces found on {peer['frames_with_all_faces']} of {peer['frames']}"
    )
    return result | {
        "peer_fps": round(peer["fps"], 2),
        "peer_frames_with_all_faces": peer["frames_with_all_faces"],
        "peer_cpu_ms_per_frame": round(peer["cpu_ms_per_frame"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="Frames of each stream video.")
    parser.add_argument(
        "--peer-frames",
        type=int,
        default=60,
        help="The first N stream frames also go through the peer (slow).",
    )
    parser.add_argument(
        "--episodes", type=int, default=8, help="Arrive-and-leave episodes of each latency video."
    )
    parser.add_argument(
        "--pad",
        choices=("off", "monitor", "enforce"),
        default="off",
        help="The doors' PAD policy (needs --pad-dir unless off).",
    )
    parser.add_argument(
        "--pad-dir", type=Path, help="Model directory holding minifasnet-pad/pad.json (facegate pad export)."
    )
    args = parser.parse_args()
    faces_dir = RecognitionSettings().data_dir / "faces"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as tmp:
        work = Path(tmp)
        os.environ["FACEGATE_HOME"] = str(work / "home")
        os.environ["FACEGATE_MASTER_KEY"] = urlsafe_b64encode(secrets.token_bytes(32)).decode()
        if args.pad_dir is not None:
            shutil.copytree(args.pad_dir, work / "home" / "models")
        runtime = build_gate_runtime(StorageSettings())
        with session_scope(runtime.engine) as session:  # as an admin does: a gate refuses an unknown door
            create_door(session, name=DOOR)
        one = scenario(runtime, work, "one-face", one_face_crops(runtime, faces_dir), ONE_FACE_SLOTS, args)
        five = scenario(
            runtime, work, "five-faces", five_face_crops(runtime, faces_dir), FIVE_FACE_SLOTS, args
        )
    result: dict[str, Any] = {
        "pad_policy": args.pad,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "fps_one_face": one["fps"],
        "fps_five_faces": five["fps"],
        "decision_latency_ms": one["decision_latency_ms_median"],
        "decision_latency_ms_five_faces": five["decision_latency_ms_median"],
        "decision_latency_cpu_ms": one["decision_latency_cpu_ms_median"],
        "cpu_count": os.cpu_count(),
        "one_face": one,
        "five_faces": five,
    }
    if args.peer_frames:
        result |= {
            "peer_fps_one_face": one["peer_fps"],
            "peer_fps_five_faces": five["peer_fps"],
            "speedup_one_face": round(one["fps"] / one["peer_fps"], 2),
            "speedup_five_faces": round(five["fps"] / five["peer_fps"], 2),
            "cpu_speedup_one_face": round(one["peer_cpu_ms_per_frame"] / one["cpu_ms_per_frame"], 2),
            "cpu_speedup_five_faces": round(five["peer_cpu_ms_per_frame"] / five["cpu_ms_per_frame"], 2),
        }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
