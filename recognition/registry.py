"""Configuration picks the implementation: kind → factory, in plain dicts (A7)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from recognition.detect.mtcnn import FacenetMtcnnDetector
from recognition.detect.yunet import YunetDetector
from recognition.embed.sface import OpencvSfaceEmbedder
from recognition.model_files import SFACE_INT8, YUNET_INT8, ModelFile, locate_model_file
from recognition.pipeline import Recognizer
from recognition.protocols import Detector, Embedder
from recognition.settings import MtcnnConfig, RecognitionSettings, SfaceConfig, YunetConfig

ModelLocator = Callable[[ModelFile], Path]


def _yunet(config: YunetConfig, locate: ModelLocator) -> Detector:
    return YunetDetector(locate(YUNET_INT8), config)


def _mtcnn(config: MtcnnConfig, locate: ModelLocator) -> Detector:
    return FacenetMtcnnDetector(config)


def _sface(config: SfaceConfig, locate: ModelLocator) -> Embedder:
    return OpencvSfaceEmbedder(locate(SFACE_INT8), cos_threshold=config.cos_threshold)


DETECTORS: dict[str, Callable[..., Detector]] = {"yunet": _yunet, "mtcnn": _mtcnn}
EMBEDDERS: dict[str, Callable[..., Embedder]] = {"sface": _sface}


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

    detector = DETECTORS[settings.detector.kind](settings.detector, locate)
    embedder = EMBEDDERS[settings.embedder.kind](settings.embedder, locate)
    return Recognizer(detector=detector, embedder=embedder, limits=settings.limits)
