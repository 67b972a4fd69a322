"""How domain errors are shown over HTTP: the one table mapping them to status codes (E3).

ApiError
└── UploadTooLarge   one uploaded file is over the recognition image limit (413, before decoding)

Image errors are 422 (the bytes arrived but are not a usable image: empty, corrupt, not an image,
too many pixels); only a file over the byte limit is 413, because it is refused before decoding.
Database and key problems answer with a generic message: details go to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.schemas import ErrorPublic, UnprocessablePublic
from enrollment import EnrollmentRejected, GalleryLoadFailed, GalleryLoading, ThresholdUnavailable
from recognition import ImageError, RecognitionError
from storage import (
    CheckpointInvalid,
    CheckpointMismatch,
    Conflict,
    DatabaseUnavailable,
    InvalidDevice,
    InvalidValue,
    KeyringError,
    NotFound,
    StorageError,
    TransactionAborted,
)

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """Base class of errors raised by the HTTP layer itself."""


class UploadTooLarge(ApiError):
    """An uploaded file is larger than the accepted image size."""


@dataclass(frozen=True)
class ErrorRule:
    """Status code for one error class, and whether its message is safe to show."""

    status_code: int
    public_message: str | None = None
    """Shown instead of the exception's text when set (the text may hold internal details)."""
    retry_after_s: int | None = None
    """Sent as Retry-After when set: the same request can succeed after this wait (`retry_after_s`)."""


ERROR_TABLE: dict[type[Exception], ErrorRule] = {
    NotFound: ErrorRule(status.HTTP_404_NOT_FOUND),
    Conflict: ErrorRule(status.HTTP_409_CONFLICT),
    # An auditor's checkpoint: an invalid one is theirs to fix; one the log no longer holds is a finding.
    CheckpointInvalid: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    CheckpointMismatch: ErrorRule(status.HTTP_409_CONFLICT),
    InvalidDevice: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    InvalidValue: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    EnrollmentRejected: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    ThresholdUnavailable: ErrorRule(status.HTTP_503_SERVICE_UNAVAILABLE),
    GalleryLoading: ErrorRule(status.HTTP_503_SERVICE_UNAVAILABLE, retry_after_s=5),
    ImageError: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    UploadTooLarge: ErrorRule(status.HTTP_413_CONTENT_TOO_LARGE),
    DatabaseUnavailable: ErrorRule(status.HTTP_503_SERVICE_UNAVAILABLE, "the database is unavailable"),
    # A deadlock or serialization failure: nothing was kept and the same request can succeed (503 with
    # Retry-After is what generic HTTP clients retry; 409 would ask the caller to change the request).
    TransactionAborted: ErrorRule(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "a concurrent change got in the way and nothing was stored; retry the request",
        retry_after_s=1,
    ),
    KeyringError: ErrorRule(
        status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error: stored data cannot be read"
    ),
    StorageError: ErrorRule(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal storage error"),
    RecognitionError: ErrorRule(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal recognition error"),
}
"""Domain error → HTTP answer. Subclasses not listed use their nearest listed base class."""


def _described(description: str, model: type[BaseModel] = ErrorPublic) -> dict[str, Any]:
    return {"model": model, "description": description}


AUTHENTICATED_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: _described("The request body cannot be parsed (malformed JSON or form)."),
    status.HTTP_401_UNAUTHORIZED: _described("Missing, invalid, revoked or expired API key."),
    status.HTTP_403_FORBIDDEN: _described("The key's role may not use this route."),
    status.HTTP_422_UNPROCESSABLE_CONTENT: _described(
        "A parameter or value is unusable.", UnprocessablePublic
    ),
    status.HTTP_429_TOO_MANY_REQUESTS: _described(
        "This address failed to authenticate too often; see Retry-After."
    ),
}
"""Answers every authenticated route can give, declared once for the OpenAPI schema."""

GALLERY_UNAVAILABLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: _described(
        "The shared gallery is still loading, or its last load failed and is retried after a backoff; "
        "try again after Retry-After seconds."
    )
}
"""The extra answer of the routes that search the shared gallery (/identify, enrollment's duplicate check)."""


def rule_for(exc: Exception) -> ErrorRule | None:
    """The row of ERROR_TABLE for `exc`: its class's, else its nearest listed base class's."""
    for error_class in type(exc).__mro__:
        rule = ERROR_TABLE.get(error_class)
        if rule is not None:
            return rule
    return None


def public_message(exc: Exception, rule: ErrorRule) -> str:
    """What a client may be told about `exc` (the console shows the same words in its pages)."""
    return rule.public_message if rule.public_message is not None else str(exc)


def retry_after_s(exc: Exception, rule: ErrorRule) -> int | None:
    """The Retry-After for `exc`: the wait it knows (a failed gallery load's backoff), else its rule's."""
    return exc.retry_after_s if isinstance(exc, GalleryLoadFailed) else rule.retry_after_s


def _body(exc: Exception, rule: ErrorRule) -> dict[str, object]:
    if rule.public_message is None and isinstance(exc, EnrollmentRejected):
        problems = [{"photo": problem.photo, "reason": problem.reason} for problem in exc.problems]
        return {"detail": "enrollment rejected; nothing was stored", "problems": problems}
    return {"detail": public_message(exc, rule)}


def _handler_for(rule: ErrorRule) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        wait_s = retry_after_s(exc, rule)
        if wait_s is not None:
            # Expected and passing (a deadlock retried, a gallery loading for a minute): one line each, not a
            # traceback per request that would bury real failures.
            logger.warning(
                "%s %s answered %d, retry after %d s: %s: %s",
                request.method,
                request.url.path,
                rule.status_code,
                wait_s,
                type(exc).__name__,
                exc,
            )
        elif rule.status_code >= 500:
            # Request boundary (E4): keep the traceback in the log, show the client a generic line.
            logger.error(
                "%s %s failed with %s", request.method, request.url.path, type(exc).__name__, exc_info=exc
            )
        headers = None if wait_s is None else {"Retry-After": str(wait_s)}
        return JSONResponse(_body(exc, rule), status_code=rule.status_code, headers=headers)

    return handle


def register_error_handlers(app: FastAPI) -> None:
    """Install one handler per row of ERROR_TABLE."""
    for error_class, rule in ERROR_TABLE.items():
        app.add_exception_handler(error_class, _handler_for(rule))
