"""Configuration picks the implementation: kind → factory, in plain dicts (A7)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from recognition.bundle import ModelBundle
from recognition.bundle_catalog import BundleSearch, builtin_bundle, find_bundle, locate_weights
from recognition.detect.mtcnn import FacenetMtcnnDetector
from recognition.detect.retinaface import RETINAFACE_MNET025_640, OnnxRetinafaceDetector
from recognition.detect.scrfd import InsightfaceScrfdDetector
from recognition.detect.yunet import YunetDetector
from recognition.embed.edgeface import load_edgeface
from recognition.embed.facenet import load_facenet
from recognition.embed.insightface_arcface import InsightfaceArcfaceEmbedder
from recognition.embed.mobilefacenet_torch import load_mobilefacenet
from recognition.embed.onnx import OnnxBundleEmbedder
from recognition.embed.sface import OpencvSfaceEmbedder
from recognition.embed.torchscript import load_torchscript_embedder
from recognition.errors import ModelLoadError
from recognition.model_files import SFACE_INT8, YUNET_FP32, YUNET_INT8, ModelFile, locate_model_file
from recognition.onnx_session import limit_inference_threads
from recognition.pad.card_file import find_pad_card, read_pad_card
from recognition.pad.crop import BoxCorrection
from recognition.pad.minifasnet import OnnxMinifasnetPad
from recognition.pipeline import Recognizer
from recognition.protocols import Detector, Embedder, PresentationAttackDetector
from recognition.settings import (
    BundleEmbedderConfig,
    MinifasnetPadConfig,
    MtcnnConfig,
    RecognitionSettings,
    RetinafaceConfig,
    ScrfdConfig,
    SfaceConfig,
    YunetConfig,
)

ModelLocator = Callable[[ModelFile], Path]
SFACE_BUNDLE = "sface"

logger = logging.getLogger(__name__)


def _yunet(config: YunetConfig, locate: ModelLocator) -> Detector:
    return YunetDetector(locate(YUNET_FP32 if config.weights == "fp32" else YUNET_INT8), config)


def _mtcnn(config: MtcnnConfig, locate: ModelLocator) -> Detector:
    return FacenetMtcnnDetector(config)


def _retinaface(config: RetinafaceConfig, locate: ModelLocator) -> Detector:
    return OnnxRetinafaceDetector(locate(RETINAFACE_MNET025_640), config)


def _scrfd(config: ScrfdConfig, locate: ModelLocator) -> Detector:
    return InsightfaceScrfdDetector(config)


def _opencv_sface(bundle: ModelBundle, weights_path: Path) -> Embedder:
    return OpencvSfaceEmbedder(weights_path, bundle=bundle)


def _onnx(bundle: ModelBundle, weights_path: Path) -> Embedder:
    return OnnxBundleEmbedder(weights_path, bundle=bundle)


def _torchscript(bundle: ModelBundle, weights_path: Path) -> Embedder:
    return load_torchscript_embedder(weights_path, bundle=bundle)


def _insightface_arcface(bundle: ModelBundle, weights_path: Path) -> Embedder:
    return InsightfaceArcfaceEmbedder(weights_path, bundle=bundle)


EmbedderFactory = Callable[[ModelBundle, Path], Embedder]
# Bundle runtime → factory(bundle, verified weights path).
EMBEDDER_RUNTIMES: dict[str, EmbedderFactory] = {
    "opencv_sface": _opencv_sface,
    "onnx": _onnx,
    "torchscript": _torchscript,
    "edgeface": load_edgeface,
    "mobilefacenet_torch": load_mobilefacenet,
    "facenet_pytorch": load_facenet,
    "insightface_arcface": _insightface_arcface,
}


def bundle_search(settings: RecognitionSettings) -> BundleSearch:
    """The directories the settings name for bundles and weights."""
    return BundleSearch(bundle_dirs=tuple(settings.bundle_dirs), model_dir=settings.model_dir)


def active_bundle_name(settings: RecognitionSettings) -> str:
    """Name of the bundle the settings choose (`sface` for the default embedder)."""
    return settings.embedder.name if isinstance(settings.embedder, BundleEmbedderConfig) else SFACE_BUNDLE


def active_model_id(settings: RecognitionSettings) -> str:
    """The model id the configured embedder stores and searches templates under; loads no weights.

    Raises:
        ModelLoadError: the configured bundle is unknown or its description invalid.
    """
    if isinstance(settings.embedder, BundleEmbedderConfig):
        return find_bundle(settings.embedder.name, bundle_search(settings)).bundle.model_id
    return builtin_bundle(SFACE_BUNDLE).model_id


def load_bundle_embedder(name: str, search: BundleSearch) -> Embedder:
    """Find a bundle by name, verify its weights and load it with its runtime.

    Raises:
        ModelLoadError: unknown bundle or runtime, weights missing or failing their sha256, or a load error.
    """
    located = find_bundle(name, search)
    runtime = located.bundle.runtime
    if runtime not in EMBEDDER_RUNTIMES:
        raise ModelLoadError(f"bundle {located.bundle.model_id}: no loader for runtime {runtime!r}")
    return EMBEDDER_RUNTIMES[runtime](located.bundle, locate_weights(located, search))


def _sface(config: SfaceConfig, locate: ModelLocator, search: BundleSearch) -> Embedder:
    # found as any bundle is: a copy in a bundle directory (`facegate models calibrate sface`) comes first
    located = find_bundle(SFACE_BUNDLE, search)
    if located.bundle.weights_sha256 != SFACE_INT8.sha256:
        raise ModelLoadError(
            f"{located.path}: a bundle named {SFACE_BUNDLE} that pins other weights than SFace's; the sface "
            "embedder runs SFace: give that bundle another name and choose it with the bundle embedder"
        )
    bundle = located.bundle.model_copy(update={"default_cos_threshold": config.cos_threshold})
    return _opencv_sface(bundle, locate(SFACE_INT8))


def _bundle(config: BundleEmbedderConfig, locate: ModelLocator, search: BundleSearch) -> Embedder:
    return load_bundle_embedder(config.name, search)


DETECTORS: dict[str, Callable[..., Detector]] = {
    "yunet": _yunet,
    "mtcnn": _mtcnn,
    "retinaface": _retinaface,
    "scrfd": _scrfd,
}
EMBEDDERS: dict[str, Callable[..., Embedder]] = {"sface": _sface, "bundle": _bundle}


def build_recognizer(settings: RecognitionSettings, *, cache_dir: Path) -> Recognizer:
    """Build the configured detector and embedder, locating and verifying their model files.

    Raises:
        ModelLoadError: a model file is missing, fails its sha256 check or cannot be loaded.
    """

    def locate(spec: ModelFile) -> Path:
        return locate_model_file(
            spec,
            model_dir=settings.model_dir,
            cache_dir=cache_dir,
            allow_download=settings.allow_model_download,
        )

    limit_inference_threads(settings.inference_threads)
    detector = DETECTORS[settings.detector.kind](settings.detector, locate)
    embedder = EMBEDDERS[settings.embedder.kind](settings.embedder, locate, bundle_search(settings))
    return Recognizer(detector=detector, embedder=embedder, limits=settings.limits, index=settings.index)


def pad_search_dirs(settings: RecognitionSettings, *, cache_dir: Path) -> tuple[Path, ...]:
    """Where the PAD card is looked for: the model directory, the bundle directories, then the cache."""
    return bundle_search(settings).weights_dirs + (cache_dir,)


def _minifasnet(config: MinifasnetPadConfig, search_dirs: tuple[Path, ...]) -> PresentationAttackDetector:
    card_path = find_pad_card(search_dirs)
    correction = BoxCorrection(
        width_scale=config.box_width_scale,
        height_scale=config.box_height_scale,
        centre_shift_x=config.box_shift_x,
        centre_shift_y=config.box_shift_y,
    )
    card = read_pad_card(card_path)
    crop = config.model_dump(mode="json", exclude={"kind"})
    for calibration in (
        card.calibration,
        card.grey_calibration,
        *(entry.calibration for entry in card.face_fill_calibrations),
    ):
        source = calibration.source if calibration else None
        if source is not None and source.crop != crop:
            logger.warning(
                "%s: PAD thresholds were calibrated with crop settings %s, but %s are configured: they do "
                "not hold for this crop; run `facegate pad calibrate` again",
                card_path,
                source.crop,
                crop,
            )
    return OnnxMinifasnetPad(
        card_path,
        card,
        correction=correction,
        is_border_replicated=config.is_border_replicated,
        min_crop_scale_ratio=config.min_crop_scale_ratio,
    )


PAD_DETECTORS: dict[str, Callable[..., PresentationAttackDetector]] = {"minifasnet": _minifasnet}


def build_pad_detector(settings: RecognitionSettings, *, cache_dir: Path) -> PresentationAttackDetector:
    """Build the configured presentation-attack detector from its card and verified ONNX files.

    Raises:
        ModelLoadError: no card in the model directories, a net missing or failing its sha256, or a
            load error.
    """
    limit_inference_threads(settings.inference_threads)
    return PAD_DETECTORS[settings.pad.kind](settings.pad, pad_search_dirs(settings, cache_dir=cache_dir))
