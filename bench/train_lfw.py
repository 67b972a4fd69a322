"""LFW View 2 for trained models: align LFW once with the product's pipeline, then embed per model.

`align` runs the same harness as `facegate eval lfw` (configured detector, face nearest the centre,
deep-funneled fallback, `align_face`) and writes the aligned crops as an insightface-style .bin in
pairs.txt order (so its ten contiguous folds are View 2's folds); `facegate eval lfw --bin` reads it.
`eval` embeds that .bin's distinct crops with a model in batches and prints ten-fold accuracy ± std
and TAR at FAR 1e-3 (recognition.evaluate_verification); the last stdout line is JSON.

    .venv/bin/python bench/train_lfw.py align --lfw ../shared/data/faces/lfw --out /tmp/lfw-aligned.bin
    .venv/bin/python bench/train_lfw.py eval --bin /tmp/lfw-aligned.bin --bundle RUN/bundles/NAME
    .venv/bin/python bench/train_lfw.py eval --bin /tmp/lfw-aligned.bin --bundle RUN/bundles/NAME --onnx
    .venv/bin/python bench/train_lfw.py eval --bin /tmp/lfw-aligned.bin --foamliu WEIGHTS.pt
    .venv/bin/python bench/train_lfw.py eval --bin /tmp/lfw-aligned.bin --untrained
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import torch

from recognition import (
    RecognitionSettings,
    Recognizer,
    build_recognizer,
    embed_photos,
    evaluate_verification,
    parse_lfw_pairs,
    read_verification_bin,
)
from training import BackboneConfig, build_backbone, embed_crops, load_initial_weights, load_torchscript

FOAMLIU_MEAN = (0.485, 0.456, 0.406)
FOAMLIU_STD = (0.229, 0.224, 0.225)


class AlignedCropRecorder:
    """Embedder stand-in that keeps each aligned crop the harness hands it (detection-only pass)."""

    def __init__(self, inner: object) -> None:
        for name in ("bundle", "model_id", "weights_sha256", "dim", "cos_threshold"):
            setattr(self, name, getattr(inner, name))
        self.crops: list[npt.NDArray[np.uint8]] = []

    def embed(self, aligned_face: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        self.crops.append(aligned_face.copy())
        return np.ones(self.dim, dtype=np.float32)  # type: ignore[attr-defined]


def align(lfw: Path, out: Path) -> None:
    pairs = parse_lfw_pairs((lfw / "pairs.txt").read_text())
    keys = pairs.image_keys()
    real = build_recognizer(RecognitionSettings(), cache_dir=Path("/tmp/facegate-models"))
    recorder = AlignedCropRecorder(real.embedder)
    recognizer = Recognizer(detector=real.detector, embedder=recorder, limits=real.limits)  # type: ignore[arg-type]
    started = time.perf_counter()
    embedded = embed_photos(
        recognizer,
        ((key, (lfw / "lfw-deepfunneled" / key).read_bytes()) for key in keys),
        is_aligned=False,
        clock=time.perf_counter,
    )
    png = {
        key: cv2.imencode(".png", crop)[1].tobytes() for key, crop in zip(keys, recorder.crops, strict=True)
    }
    images = [png[key] for pair in zip(pairs.first, pairs.second, strict=True) for key in pair]
    out.write_bytes(
        pickle.dumps((images, [bool(s) for s in pairs.is_same]), protocol=pickle.HIGHEST_PROTOCOL)
    )
    sys.stdout.write(
        json.dumps(
            {
                "images": len(keys),
                "detect_failures": len(embedded.detect_failures),
                "wall_s": round(time.perf_counter() - started, 1),
                "out": str(out),
            }
        )
        + "\n"
    )


def load_model(args: argparse.Namespace) -> tuple[torch.nn.Module, tuple[float, ...], tuple[float, ...], str]:
    if args.bundle is not None:
        bundle = json.loads((args.bundle / "bundle.json").read_text())
        pre = bundle["preprocessing"]
        name = f"{bundle['name']}@{bundle['version']}"
        return load_torchscript(args.bundle / "model.ts"), tuple(pre["mean"]), tuple(pre["std"]), name
    if args.foamliu is not None:
        model = build_backbone(BackboneConfig())
        load_initial_weights(model, args.foamliu)
        return model, FOAMLIU_MEAN, FOAMLIU_STD, "mobilefacenet-foamliu (state dict)"
    torch.manual_seed(args.seed)
    return (
        build_backbone(BackboneConfig()),
        (0.5,) * 3,
        (0.5,) * 3,
        f"mobilefacenet untrained (seed {args.seed})",
    )


def embed_onnx(
    model_path: Path,
    crops: npt.NDArray[np.uint8],
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    threads: int,
    batch_size: int = 64,
) -> npt.NDArray[np.float32]:
    """Unit embeddings (N×D) of N×112×112×3 uint8 RGB crops with a bundle's model.onnx (CPU).

    About 6x the images per CPU-second of the TorchScript model on this CPU (one thread each).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    scale = np.array(std, dtype=np.float32).reshape(1, 3, 1, 1) * 255.0
    shift = np.array(mean, dtype=np.float32).reshape(1, 3, 1, 1) * 255.0
    outputs = []
    for start in range(0, len(crops), batch_size):
        batch = crops[start : start + batch_size].transpose(0, 3, 1, 2).astype(np.float32)
        outputs.append(session.run(None, {name: (batch - shift) / scale})[0])
    vectors = np.concatenate(outputs).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # type: ignore[no-any-return]


def decode_rgb(data: bytes) -> npt.NDArray[np.uint8]:
    """H×W×3 uint8 RGB of one encoded crop of the .bin; ValueError when the bytes do not decode."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("a crop in the .bin does not decode as an image")
    return np.ascontiguousarray(image[:, :, ::-1])


def evaluate(args: argparse.Namespace) -> None:
    verification = read_verification_bin(args.bin)
    pairs = verification.pairs if args.limit_pairs is None else verification.pairs.limited(args.limit_pairs)
    images = {key: verification.images[int(key)] for key in pairs.image_keys()}
    digests = {key: hashlib.sha256(data).hexdigest() for key, data in images.items()}
    unique = {digest: key for key, digest in reversed(list(digests.items()))}
    crops = np.stack([decode_rgb(images[key]) for key in unique.values()])
    model, mean, std, name = load_model(args)
    started = time.perf_counter()
    if args.onnx:
        onnx_vectors = embed_onnx(args.bundle / "model.onnx", crops, mean=mean, std=std, threads=args.threads)
        vectors = onnx_vectors.astype(np.float64)
    else:
        tensor = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()
        torch_vectors = embed_crops(model, tensor, mean=mean, std=std, device=torch.device("cpu"))
        vectors = torch_vectors.astype(np.float64)
    embed_s = time.perf_counter() - started
    row = {digest: index for index, digest in enumerate(unique)}
    first = vectors[[row[digests[key]] for key in pairs.first]]
    second = vectors[[row[digests[key]] for key in pairs.second]]
    report = evaluate_verification(np.einsum("ij,ij->i", first, second), pairs.is_same, pairs.folds)
    result = {
        "model": name,
        "accuracy": report.folds.mean,
        "accuracy_std": report.folds.std,
        "fold_accuracies": list(report.folds.accuracies),  # View 2's fixed folds: models pair fold by fold
        "tar_at_far_1e3": report.at_far_1e3.tar,
        "pairs": report.pairs,
        "images": len(unique),
        "embed_images_per_s": round(len(unique) / embed_s, 1),
        "runtime": "onnxruntime" if args.onnx else "torch",
    }
    sys.stdout.write(json.dumps(result) + "\n")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    align_parser = commands.add_parser("align")
    align_parser.add_argument(
        "--lfw", type=Path, required=True, help="folder with pairs.txt and lfw-deepfunneled/"
    )
    align_parser.add_argument("--out", type=Path, required=True)
    eval_parser = commands.add_parser("eval")
    eval_parser.add_argument("--bin", type=Path, required=True)
    source = eval_parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", type=Path, help="an exported bundle directory (its model.ts)")
    source.add_argument("--foamliu", type=Path, help="foamliu MobileFaceNet state dict")
    source.add_argument("--untrained", action="store_true", help="randomly initialised MobileFaceNet")
    eval_parser.add_argument("--seed", type=int, default=0)
    eval_parser.add_argument("--limit-pairs", type=int, help="first N/(2×10) pairs of each kind per fold")
    eval_parser.add_argument("--threads", type=int, default=2)
    eval_parser.add_argument(
        "--onnx", action="store_true", help="embed with the bundle's model.onnx (onnxruntime), not model.ts"
    )
    args = parser.parse_args()
    if args.command == "eval" and args.onnx and args.bundle is None:
        parser.error("--onnx needs --bundle")
    if args.command == "align":
        align(args.lfw, args.out)
    else:
        torch.set_num_threads(args.threads)
        evaluate(args)


if __name__ == "__main__":
    main()
