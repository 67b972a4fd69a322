"""Errors raised by the recognition package.

RecognitionError
├── ImageError            the bytes are not a usable image (corrupt, empty, too large)
├── ModelLoadError        a model file is missing, fails its sha256 check or cannot be loaded
├── ModelMismatchError    embeddings of different models were mixed
├── IndexStateError       the gallery index was used inconsistently (bad shape, duplicate id)
└── EvaluationDataError   a benchmark's protocol file or pair set is malformed or incomplete
"""


class RecognitionError(Exception):
    """Base class of every recognition error."""


class ImageError(RecognitionError):
    """The input is not a decodable image within the configured limits."""


class ModelLoadError(RecognitionError):
    """A model file could not be located, verified or loaded."""


class ModelMismatchError(RecognitionError):
    """An embedding from one model met a gallery or probe from another."""


class IndexStateError(RecognitionError):
    """The gallery index was asked to do something inconsistent with its contents."""


class EvaluationDataError(RecognitionError):
    """A verification protocol file, pair set or image set is malformed or incomplete."""
