"""Face recognition: detect, align, embed and search; pure inference with no database or web."""

from recognition.align import ALIGNED_SIZE_PX, ARCFACE_TEMPLATE, align_face, similarity_transform
from recognition.codec import vector_from_bytes, vector_to_bytes
from recognition.errors import (
    ImageError,
    IndexStateError,
    ModelLoadError,
    ModelMismatchError,
    RecognitionError,
)
from recognition.gallery import FaissFlatGallery
from recognition.image_io import decode_image
from recognition.model_files import SFACE_INT8, YUNET_INT8, ModelFile, locate_model_file, sha256_of
from recognition.pipeline import Recognizer
from recognition.protocols import Detector, Embedder, FaceIndex
from recognition.registry import build_recognizer
from recognition.settings import ImageLimits, MtcnnConfig, RecognitionSettings, SfaceConfig, YunetConfig
from recognition.types import BBox, BgrImage, DetectedFace, Embedding, FaceObservation, Landmarks5, Match

__all__ = [
    "ALIGNED_SIZE_PX",
    "ARCFACE_TEMPLATE",
    "BBox",
    "BgrImage",
    "DetectedFace",
    "Detector",
    "Embedder",
    "Embedding",
    "FaceIndex",
    "FaceObservation",
    "FaissFlatGallery",
    "ImageError",
    "ImageLimits",
    "IndexStateError",
    "Landmarks5",
    "Match",
    "ModelFile",
    "ModelLoadError",
    "ModelMismatchError",
    "MtcnnConfig",
    "RecognitionError",
    "RecognitionSettings",
    "Recognizer",
    "SFACE_INT8",
    "SfaceConfig",
    "YUNET_INT8",
    "YunetConfig",
    "align_face",
    "build_recognizer",
    "decode_image",
    "locate_model_file",
    "sha256_of",
    "similarity_transform",
    "vector_from_bytes",
    "vector_to_bytes",
]
