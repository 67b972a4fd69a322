"""What our detector's face box does to MiniFASNet, compared with the box of the authors' own detector.

The authors crop around the box of their Caffe RetinaFace (`weights/minifasnet/reference/`, run here through
cv2.dnn exactly as their `anti_spoof_predict.Detection.get_bbox`); the gate crops around YuNet's. On bona
fide photos (knn examples, the live sample photo, an LFW subset) this script pairs the two boxes, fits the
correction YuNet → reference (median width and height ratios and centre shifts) and reports the attack
score with the reference box, with YuNet's raw box, with YuNet's corrected box, and with that box and the
frame's edge replicated where the widened box leaves the frame (an option, off by default): the mean absolute
difference to the reference score and the share of bona fide photos called an attack at 0.5 (the authors'
rule). It also times the PAD stage (both nets, crops included) per face. The last stdout line is one JSON
object; the fitted numbers are the `MinifasnetPadConfig` defaults.

    PYTHONPATH=. .venv/bin/python bench/pad_crop.py --pad-dir DIR_WITH_pad.json --lfw 300
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import cv2
import numpy as np

from recognition import (
    BgrImage,
    BoxCorrection,
    DetectedFace,
    RecognitionSettings,
    build_recognizer,
    find_pad_card,
    read_pad_card,
)
from recognition.pad.minifasnet import OnnxMinifasnetPad


def reference_box(net: cv2.dnn.Net, image: np.ndarray) -> tuple[int, int, int, int]:
    """The authors' get_bbox: 192-px-area resize, SSD blob with mean (104,117,123); (x1, y1, x2, y2)."""
    height, width = image.shape[:2]
    small = image
    if width * height >= 192 * 192:
        ratio = width / height
        small = cv2.resize(image, (int(192 * math.sqrt(ratio)), int(192 / math.sqrt(ratio))))
    net.setInput(cv2.dnn.blobFromImage(small, 1, mean=(104, 117, 123)), "data")
    out = net.forward("detection_out").squeeze()
    row = out[int(np.argmax(out[:, 2]))]
    left, top, right, bottom = row[3] * width, row[4] * height, row[5] * width, row[6] * height
    return int(left), int(top), int(left) + int(right - left + 1), int(top) + int(bottom - top + 1)


def iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def photos(data_dir: Path, lfw_count: int) -> list[Path]:
    knn = data_dir / "faces" / "face-recognition-examples" / "examples" / "knn_examples"
    found = sorted(knn.rglob("*.jpg")) + sorted(
        (data_dir / "weights" / "minifasnet" / "samples").glob("*T*.jpg")
    )
    lfw = sorted((data_dir / "faces" / "lfw" / "lfw-deepfunneled").rglob("*.jpg"))
    step = max(1, len(lfw) // max(1, lfw_count))
    return found + lfw[::step][:lfw_count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pad-dir", type=Path, required=True, help="Directory holding pad.json.")
    parser.add_argument("--lfw", type=int, default=300, help="LFW images (evenly spaced) to add.")
    args = parser.parse_args()
    card_path = find_pad_card((args.pad_dir,))
    card = read_pad_card(card_path)
    identity = OnnxMinifasnetPad(card_path, card, correction=BoxCorrection())
    settings = RecognitionSettings()
    recognizer = build_recognizer(settings, cache_dir=Path.home() / ".cache" / "facegate")
    reference = settings.data_dir / "weights" / "minifasnet" / "reference"
    net = cv2.dnn.readNetFromCaffe(
        str(reference / "retinaface_deploy.prototxt"), str(reference / "Widerface-RetinaFace.caffemodel")
    )
    pairs = []
    for path in photos(settings.data_dir, args.lfw):
        loaded = cv2.imread(str(path))
        if loaded is None:
            continue
        image: BgrImage = np.asarray(loaded, dtype=np.uint8)
        faces = recognizer.detect(image)
        if not faces:
            continue
        ref = reference_box(net, image)
        ours = max(faces, key=lambda f: iou(f.bbox, ref))
        if iou(ours.bbox, ref) >= 0.3:
            pairs.append((image, ours, ref))
    ratios = {
        "width_scale": [(r[2] - r[0]) / o.width_px for _, o, r in pairs],
        "height_scale": [(r[3] - r[1]) / o.height_px for _, o, r in pairs],
        "centre_shift_x": [((r[0] + r[2]) - (o.bbox[0] + o.bbox[2])) / 2 / o.width_px for _, o, r in pairs],
        "centre_shift_y": [((r[1] + r[3]) - (o.bbox[1] + o.bbox[3])) / 2 / o.height_px for _, o, r in pairs],
    }
    fitted = BoxCorrection(**{name: round(statistics.median(v), 3) for name, v in ratios.items()})
    corrected = OnnxMinifasnetPad(card_path, card, correction=fitted)
    replicated = OnnxMinifasnetPad(card_path, card, correction=fitted, is_border_replicated=True)
    scores: dict[str, list[float]] = {
        "reference": [],
        "yunet_raw": [],
        "yunet_corrected": [],
        "yunet_corrected_replicated": [],
    }
    spent_s = 0.0
    for image, ours, ref in pairs:
        ref_face = DetectedFace(bbox=ref, landmarks=ours.landmarks, score=1.0)
        scores["reference"].append(identity.score(image, ref_face).attack_score)
        scores["yunet_raw"].append(identity.score(image, ours).attack_score)
        scores["yunet_corrected"].append(corrected.score(image, ours).attack_score)
        started_s = time.perf_counter()
        scores["yunet_corrected_replicated"].append(replicated.score(image, ours).attack_score)
        spent_s += time.perf_counter() - started_s
    ref_scores = np.array(scores["reference"])
    result: dict[str, object] = {
        "photos": len(pairs),
        "correction": fitted.__dict__,
        "pad_ms_per_face": round(1000 * spent_s / max(1, len(pairs)), 2),
    }
    for name, values in scores.items():
        arr = np.array(values)
        result[name] = {
            "bpcer_at_0.5": round(float((arr > 0.5).mean()), 4),
            "mean_attack_score": round(float(arr.mean()), 4),
            "mean_abs_diff_to_reference": round(float(np.abs(arr - ref_scores).mean()), 4),
        }
        sys.stderr.write(f"{name:16s} {result[name]}\n")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
