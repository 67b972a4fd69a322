"""Face recognition: detect, align, embed and search; pure inference with no database or web."""

from recognition.align import ALIGNED_SIZE_PX, ARCFACE_TEMPLATE, align_face, similarity_transform
from recognition.bundle import (
    CALIBRATED_FARS,
    Calibration,
    ModelBundle,
    Preprocessing,
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
from recognition.evaluation.attacks import SPECIES as ATTACK_SPECIES
from recognition.evaluation.attacks import attack_still, attack_video, bona_fide_video
from recognition.evaluation.harness import (
    FALLBACK_DESCRIPTION,
    EmbeddedPhotos,
    SearchScores,
    embed_photos,
    pair_scores,
    search_gallery,
)
from recognition.evaluation.identification import (
    IdentificationSplit,
    evaluate_identification,
    fnir_at,
    fpir_at,
    split_identification,
)
from recognition.evaluation.pairs import PairList, parse_lfw_pairs, read_verification_bin
from recognition.evaluation.protocol import (
    OperatingPoint,
    RocCurve,
    VerificationReport,
    evaluate_verification,
)
from recognition.gallery import Gallery, limit_search_threads
from recognition.gallery_sync import GallerySource, GallerySync
from recognition.image_io import decode_image
from recognition.index.faiss_flat import FaissFlatGallery
from recognition.index.registry import INDEXES, build_index
from recognition.model_files import SFACE_INT8, YUNET_INT8, ModelFile, locate_model_file, sha256_of
from recognition.pad.card import (
    MINIFASNET_SOURCES,
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    PadCard,
    PadNet,
    find_pad_card,
    operating_attack_threshold,
    read_pad_card,
    write_pad_card,
)
from recognition.pad.crop import BoxCorrection, pad_crop, reference_box
from recognition.pad.harness import ScoredStills, image_paths, score_stills
from recognition.pad.metrics import bpcer_at_apcer, calibrate_pad, error_rates, threshold_at_bpcer
from recognition.pipeline import Recognizer
from recognition.protocols import Detector, Embedder, FaceIndex, PresentationAttackDetector
from recognition.quality import FaceQuality, head_pose_deg, measure_face
from recognition.registry import (
    active_bundle_name,
    build_pad_detector,
    build_recognizer,
    bundle_search,
    load_bundle_embedder,
    pad_search_dirs,
)
from recognition.settings import (
    BundleEmbedderConfig,
    FaissFactoryIndexConfig,
    FlatIndexConfig,
    ImageLimits,
    IndexConfig,
    MtcnnConfig,
    RecognitionSettings,
    RetinafaceConfig,
    ScrfdConfig,
    YunetConfig,
)
from recognition.threshold_policy import (
    MarginRule,
    OperatingThreshold,
    door_threshold,
    fmr_for_fpir,
    verification_threshold,
)
from recognition.types import BBox, BgrImage, DetectedFace, Embedding, Landmarks5, Match, PadScore

__all__ = [
    "ATTACK_SPECIES",
    "attack_still",
    "attack_video",
    "bona_fide_video",
    "MINIFASNET_SOURCES",
    "PAD_CARD_DIR",
    "PAD_CARD_FILE",
    "BoxCorrection",
    "PadCard",
    "PadNet",
    "PadScore",
    "PresentationAttackDetector",
    "ScoredStills",
    "bpcer_at_apcer",
    "calibrate_pad",
    "error_rates",
    "image_paths",
    "score_stills",
    "threshold_at_bpcer",
    "build_pad_detector",
    "find_pad_card",
    "operating_attack_threshold",
    "pad_crop",
    "pad_search_dirs",
    "read_pad_card",
    "reference_box",
    "write_pad_card",
    "CALIBRATED_FARS",
    "BundleEmbedderConfig",
    "BundleSearch",
    "Calibration",
    "LocatedBundle",
    "ModelBundle",
    "Preprocessing",
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
    "FaceQuality",
    "FaissFactoryIndexConfig",
    "FaissFlatGallery",
    "FlatIndexConfig",
    "Gallery",
    "GallerySource",
    "GallerySync",
    "INDEXES",
    "IndexConfig",
    "build_index",
    "limit_search_threads",
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
