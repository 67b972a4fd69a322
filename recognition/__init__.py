"""Face recognition: detect, align, embed and search; pure inference with no database or web."""

from recognition.align import ALIGNED_SIZE_PX, ARCFACE_TEMPLATE, align_face, similarity_transform
from recognition.bundle import (
    CALIBRATED_FARS,
    Calibration,
    ModelBundle,
    Preprocessing,
    ThresholdPoint,
    calibrate,
    read_bundle_file,
    write_bundle_file,
)
from recognition.bundle_catalog import BundleSearch, LocatedBundle, find_bundle, list_bundles, locate_weights
from recognition.codec import vector_from_bytes, vector_to_bytes
from recognition.errors import (
    EvaluationDataError,
    ImageError,
    IndexStateError,
    ModelLoadError,
    ModelMismatchError,
    RecognitionError,
)
from recognition.evaluation.all_pairs import all_pair_scores
from recognition.evaluation.harness import (
    FALLBACK_DESCRIPTION,
    EmbeddedPhotos,
    SearchScores,
    embed_photos,
    pair_scores,
    search_gallery,
)
from recognition.evaluation.identification import (
    IdentificationPoint,
    IdentificationReport,
    IdentificationSplit,
    evaluate_identification,
    fnir_at,
    fpir_at,
    split_identification,
)
from recognition.evaluation.pairs import PairList, VerificationBin, parse_lfw_pairs, read_verification_bin
from recognition.evaluation.protocol import (
    FoldAccuracy,
    OperatingPoint,
    RocCurve,
    VerificationReport,
    evaluate_verification,
)
from recognition.gallery import FaissFlatGallery, limit_search_threads
from recognition.image_io import decode_image
from recognition.model_files import SFACE_INT8, YUNET_INT8, ModelFile, locate_model_file, sha256_of
from recognition.pipeline import Recognizer
from recognition.protocols import Detector, Embedder, FaceIndex
from recognition.quality import FaceQuality, head_pose_deg, measure_face
from recognition.registry import active_bundle_name, build_recognizer, bundle_search, load_bundle_embedder
from recognition.settings import (
    BundleEmbedderConfig,
    ImageLimits,
    MtcnnConfig,
    RecognitionSettings,
    RetinafaceConfig,
    ScrfdConfig,
    SfaceConfig,
    YunetConfig,
)
from recognition.threshold_policy import (
    MarginRule,
    OperatingThreshold,
    door_threshold,
    fmr_for_fpir,
    verification_threshold,
)
from recognition.types import BBox, BgrImage, DetectedFace, Embedding, FaceObservation, Landmarks5, Match

__all__ = [
    "CALIBRATED_FARS",
    "BundleEmbedderConfig",
    "BundleSearch",
    "Calibration",
    "LocatedBundle",
    "ModelBundle",
    "Preprocessing",
    "ThresholdPoint",
    "MarginRule",
    "OperatingThreshold",
    "door_threshold",
    "fmr_for_fpir",
    "verification_threshold",
    "active_bundle_name",
    "all_pair_scores",
    "bundle_search",
    "calibrate",
    "find_bundle",
    "list_bundles",
    "load_bundle_embedder",
    "locate_weights",
    "read_bundle_file",
    "write_bundle_file",
    "ALIGNED_SIZE_PX",
    "ARCFACE_TEMPLATE",
    "FALLBACK_DESCRIPTION",
    "SFACE_INT8",
    "YUNET_INT8",
    "BBox",
    "BgrImage",
    "DetectedFace",
    "Detector",
    "EmbeddedPhotos",
    "Embedder",
    "Embedding",
    "EvaluationDataError",
    "FaceIndex",
    "FaceObservation",
    "FaceQuality",
    "FaissFlatGallery",
    "limit_search_threads",
    "FoldAccuracy",
    "IdentificationPoint",
    "IdentificationReport",
    "IdentificationSplit",
    "ImageError",
    "ImageLimits",
    "IndexStateError",
    "Landmarks5",
    "Match",
    "ModelFile",
    "ModelLoadError",
    "ModelMismatchError",
    "MtcnnConfig",
    "OperatingPoint",
    "PairList",
    "RecognitionError",
    "RecognitionSettings",
    "Recognizer",
    "RetinafaceConfig",
    "RocCurve",
    "ScrfdConfig",
    "SearchScores",
    "SfaceConfig",
    "VerificationBin",
    "VerificationReport",
    "YunetConfig",
    "align_face",
    "build_recognizer",
    "decode_image",
    "embed_photos",
    "evaluate_identification",
    "evaluate_verification",
    "fnir_at",
    "fpir_at",
    "head_pose_deg",
    "locate_model_file",
    "measure_face",
    "pair_scores",
    "parse_lfw_pairs",
    "read_verification_bin",
    "search_gallery",
    "sha256_of",
    "similarity_transform",
    "split_identification",
    "vector_from_bytes",
    "vector_to_bytes",
]
