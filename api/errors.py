"""How domain errors are shown over HTTP: the one table mapping them to status codes (E3).

ApiError
└── UploadTooLarge   one uploaded file is over the recognition image limit (413, before decoding)

Image errors are 422 (the bytes arrived but are not a usable image: empty, corrupt, not an image,
too many pixels); only a file over the byte limit is 413, because it is refused before decoding.
Database and key problems answer with a generic message: details go to the log, never to the client.
A database that cannot be reached (storage's DatabaseUnavailable: a refused or reset connection, a pool
timeout) is an outage, not a bug: 503 with Retry-After and `"status": "database_unavailable"` (the word
/readyz answers), logged as one warning line without a traceback, at most one every few seconds; a statement
PostgreSQL cancelled at its time limit (storage's StatementTimeout: a lock another session holds) is the same
outage, told in its own words. A database without the schema this release needs (storage's SchemaMissing:
never migrated, or dropped or replaced under the running server) is neither: 503 `"status": "schema_missing"`
without Retry-After, since waiting does not help, and one error line per interval naming what is missing and
what to run. A connection lost during a commit (storage's CommitUnconfirmed) may have stored the change: 503
`"status": "commit_unconfirmed"` without Retry-After, so that no client repeats it blindly. A bug (an error no
row lists, or a 500 row) keeps its traceback. Under the console's paths the same answers are HTML pages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.schemas import ConflictPublic, ErrorPublic, UnavailablePublic, UnprocessablePublic
from enrollment import EnrollmentRejected, GalleryLoadFailed, GalleryLoading, ThresholdUnavailable
from recognition import ImageError, RecognitionError
from storage import (
    CheckpointInvalid,
    CheckpointMismatch,
    CommitUnconfirmed,
    Conflict,
    DatabaseUnavailable,
    DoorNotFound,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidDevice,
    InvalidValue,
    KeyringError,
    NotFound,
    SchemaMissing,
    StatementTimeout,
    StorageError,
    TransactionAborted,
    UnreadableEvent,
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
    status_word: str | None = None
    """Sent as the body's `status` when set: the word /readyz answers for the same state."""
    warn_every_s: float | None = None
    """At most one warning line per this many seconds (an outage answers every request alike); the next
    line counts the answers left out. None: one line per answer."""


DATABASE_RETRY_AFTER_S = 5
"""Retry-After while the database cannot be reached (any route, /readyz): the next try may find it back."""


ERROR_TABLE: dict[type[Exception], ErrorRule] = {
    NotFound: ErrorRule(status.HTTP_404_NOT_FOUND),
    # A door named in a request's body (a device key's doors, a rule's door), not a resource of its path.
    DoorNotFound: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    Conflict: ErrorRule(status.HTTP_409_CONFLICT),
    # The Idempotency-Key of a keyed route (api/idempotency.py): nothing was done in either case.
    IdempotencyKeyInFlight: ErrorRule(status.HTTP_409_CONFLICT, status_word="idempotency_key_in_flight"),
    IdempotencyKeyReused: ErrorRule(
        status.HTTP_422_UNPROCESSABLE_CONTENT, status_word="idempotency_key_reused"
    ),
    # An auditor's checkpoint: an invalid one is theirs to fix; one the log no longer holds is a finding.
    CheckpointInvalid: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    CheckpointMismatch: ErrorRule(status.HTTP_409_CONFLICT),
    # An audit row edited to a value FaceGate never writes (SQLite): a finding about the log, not a bug of
    # the server; its message names the event and column and points to `facegate audit verify`.
    UnreadableEvent: ErrorRule(status.HTTP_409_CONFLICT, status_word="audit_event_unreadable"),
    InvalidDevice: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    InvalidValue: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    EnrollmentRejected: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    ThresholdUnavailable: ErrorRule(status.HTTP_503_SERVICE_UNAVAILABLE),
    GalleryLoading: ErrorRule(status.HTTP_503_SERVICE_UNAVAILABLE, retry_after_s=5),
    ImageError: ErrorRule(status.HTTP_422_UNPROCESSABLE_CONTENT),
    UploadTooLarge: ErrorRule(status.HTTP_413_CONTENT_TOO_LARGE),
    DatabaseUnavailable: ErrorRule(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the database cannot be reached: the request was not carried out and nothing of it was stored; "
        "retry after Retry-After seconds",
        retry_after_s=DATABASE_RETRY_AFTER_S,
        status_word="database_unavailable",
        warn_every_s=10.0,
    ),
    # The same outage for a client (an edge gate keys on the word), told what it was: a lock another session
    # holds (an open psql transaction, a migration) or a statement past FACEGATE_DATABASE_STATEMENT_TIMEOUT_S.
    StatementTimeout: ErrorRule(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the database did not finish a statement within its time limit (it waited for a lock another "
        "session holds, or ran too long): the request was not carried out and nothing of it was stored; "
        "retry after Retry-After seconds",
        retry_after_s=DATABASE_RETRY_AFTER_S,
        status_word="database_unavailable",
        warn_every_s=10.0,
    ),
    # The connection went during the COMMIT itself: the change may be stored. Not "nothing was stored", and
    # no Retry-After: a blind retry of an upload could store its templates twice. One line per answer.
    CommitUnconfirmed: ErrorRule(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the connection to the database was lost while the change was being committed: it may or may not "
        "have been stored; check what is stored before repeating the request (a repeated upload would add "
        "its templates again), or repeat it with the same Idempotency-Key, which replays the answer if it "
        "was stored",
        status_word="commit_unconfirmed",
    ),
    # Not an outage: the schema is missing or older than this release. An operator must migrate (or restore)
    # the database, after which the same server answers; no Retry-After, as no wait alone helps. A 503, not
    # a 500: the server cannot serve until its database is fixed, as in an outage, and 500 stays for bugs.
    SchemaMissing: ErrorRule(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the database lacks the schema this server needs (never created, dropped or older): the request was "
        "not carried out; an operator must bring it up to date (`facegate init`), retrying will not help",
        status_word="schema_missing",
        warn_every_s=10.0,
    ),
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

READINESS_KEYRING_RULE = ErrorRule(
    status.HTTP_503_SERVICE_UNAVAILABLE,
    "this server's master keys cannot read what is stored (a wrong or missing master key, a key file gone): "
    "an operator must give it the keys that sealed the data",
    status_word="keyring_error",
    warn_every_s=10.0,
)
"""/readyz's answer to a KeyringError: not ready until an operator fixes the keys, as for a missing schema
(other routes keep the table's 500: a request that meets unreadable data fails)."""


def _described(description: str, model: type[BaseModel] = ErrorPublic) -> dict[str, Any]:
    return {"model": model, "description": description}


_DATABASE_UNAVAILABLE = (
    "The database cannot be reached (`status`: `database_unavailable`): nothing was stored; try again after "
    "Retry-After seconds. The same status when a statement waited for a lock another session holds or ran "
    "past FACEGATE_DATABASE_STATEMENT_TIMEOUT_S, and the database cancelled it. Or it lacks its schema "
    "(`status`: `schema_missing`, no Retry-After): an operator "
    "must run `facegate init`. Or the connection was lost while a change was committed (`status`: "
    "`commit_unconfirmed`, no Retry-After): it may have been stored; check before repeating it, or repeat "
    "it with the same Idempotency-Key."
)

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
    # Every authenticated route looks its key up in the database.
    status.HTTP_503_SERVICE_UNAVAILABLE: _described(_DATABASE_UNAVAILABLE, UnavailablePublic),
}
"""Answers every authenticated route can give, declared once for the OpenAPI schema."""

_IN_FLIGHT = (
    "A request with the same Idempotency-Key is still being processed (`status`: "
    "`idempotency_key_in_flight`): nothing was done; send it again later for its answer."
)


def idempotent_responses(conflict: str | None = None) -> dict[int | str, dict[str, Any]]:
    """The answers the Idempotency-Key adds to a route: its 409, after the route's own 409
    (`conflict`, a taken name) when it has one. Its 422 `idempotency_key_reused` is among
    AUTHENTICATED_RESPONSES' 422."""
    description = _IN_FLIGHT if conflict is None else f"{conflict} Or: {_IN_FLIGHT}"
    return {status.HTTP_409_CONFLICT: _described(description, ConflictPublic)}


IDEMPOTENT_RESPONSES = idempotent_responses()
"""idempotent_responses() of a route that has no 409 of its own."""

GALLERY_UNAVAILABLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: _described(
        "The shared gallery is still loading, or its last load failed and is retried after a backoff "
        f"(no `status`); try again after Retry-After seconds. Or: {_DATABASE_UNAVAILABLE}",
        UnavailablePublic,
    )
}
"""The 503 of the routes that search the shared gallery (/identify, enrollment's duplicate check); it
replaces AUTHENTICATED_RESPONSES' 503 in their schema, so it names the database's too."""


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
    status_word = {} if rule.status_word is None else {"status": rule.status_word}
    return {**status_word, "detail": public_message(exc, rule)}


ErrorPage = Callable[[Request, int, str, int | None, str | None], Response]
"""Renders an error answer as a page: (request, status code, public message, Retry-After, status word: the
JSON body's `status`, such as `schema_missing`) → response."""


@dataclass
class WarningThrottle:
    """At most one warning line per rule every `warn_every_s` on `monotonic`; counts the lines left out.

    One per app (register_error_handlers), shared by the error handlers and the routes that log a passing
    error themselves (log_passing_error), so an outage is one line per interval, whichever route met it.
    """

    monotonic: Callable[[], float]
    _last_s: dict[ErrorRule, float] = field(default_factory=dict)
    _left_out: dict[ErrorRule, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, rule: ErrorRule) -> int | None:
        """The number of lines left out since the last one when this one may be logged, else None.

        Locked: handlers run on the event loop, but sync routes (/readyz) call it from the thread pool.
        """
        with self._lock:
            now_s = self.monotonic()
            last_s = self._last_s.get(rule)
            if rule.warn_every_s is not None and last_s is not None and now_s - last_s < rule.warn_every_s:
                self._left_out[rule] = self._left_out.get(rule, 0) + 1
                return None
            self._last_s[rule] = now_s
            return self._left_out.pop(rule, 0)


def _warn(
    throttle: WarningThrottle,
    request: Request,
    exc: Exception,
    rule: ErrorRule,
    outcome: str,
    *,
    level: int = logging.WARNING,
) -> None:
    """`METHOD PATH <outcome>: ErrorType: text` at `level`, no traceback, when `throttle` admits it."""
    left_out = throttle.admit(rule)
    if left_out is None:
        return
    logger.log(
        level,
        "%s %s %s: %s: %s%s",
        request.method,
        request.url.path,
        outcome,
        type(exc).__name__,
        exc,
        f" ({left_out} more since the last such line)" if left_out else "",
    )


def _log_once_per_interval(
    request: Request, exc: Exception, rule: ErrorRule, throttle: WarningThrottle, outcome: str | None = None
) -> bool:
    """Log `exc` as one rate-limited line without a traceback when its row asks for it; False otherwise."""
    wait_s = retry_after_s(exc, rule)
    if wait_s is not None:
        # Expected and passing (a deadlock retried, a gallery loading for a minute, a database restarting):
        # one line, not a traceback per request that would bury real failures.
        _warn(throttle, request, exc, rule, outcome or f"answered {rule.status_code}, retry after {wait_s} s")
    elif rule.warn_every_s is not None:
        # Not passing, but the same for every request until an operator acts (a missing schema): one error
        # line per interval, whose message says what is missing and what to run.
        _warn(throttle, request, exc, rule, outcome or f"answered {rule.status_code}", level=logging.ERROR)
    else:
        return False
    return True


def _log(request: Request, exc: Exception, rule: ErrorRule, throttle: WarningThrottle) -> None:
    if _log_once_per_interval(request, exc, rule, throttle):
        return
    if rule.status_code >= 500:
        # Request boundary (E4): keep the traceback in the log, show the client a generic line.
        logger.error(
            "%s %s failed with %s", request.method, request.url.path, type(exc).__name__, exc_info=exc
        )


def log_passing_error(
    request: Request, exc: Exception, *, outcome: str | None = None, rule: ErrorRule | None = None
) -> None:
    """Log a passing error (one whose ERROR_TABLE row has a Retry-After), or one the same for every request
    until an operator acts (a row with warn_every_s: SchemaMissing), that `request`'s route handled itself,
    as the error handlers log it: one line, rate-limited together with theirs.

    Args:
        request: the request; its app's WarningThrottle (installed by register_error_handlers) is used.
        exc: the error, such as storage's DatabaseUnavailable.
        outcome: what the client got, when not the row's answer ("answered 503, retry after 5 s").
        rule: the route's own answer to `exc` when it is not the table's (READINESS_KEYRING_RULE).

    Raises:
        ValueError: `exc` has no row with a Retry-After or warn_every_s: it needs its traceback.
    """
    rule = rule if rule is not None else rule_for(exc)
    throttle: WarningThrottle = request.app.state.warning_throttle
    if rule is None or not _log_once_per_interval(request, exc, rule, throttle, outcome):
        raise ValueError(f"{type(exc).__name__} is not a passing error") from exc


def _handler_for(
    rule: ErrorRule, *, throttle: WarningThrottle, pages: Mapping[str, ErrorPage]
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        wait_s = retry_after_s(exc, rule)
        _log(request, exc, rule, throttle)
        headers = {} if wait_s is None else {"Retry-After": str(wait_s)}
        path = request.url.path
        page = next((pages[under] for under in pages if path == under or path.startswith(f"{under}/")), None)
        if page is None:
            return JSONResponse(_body(exc, rule), status_code=rule.status_code, headers=headers)
        response = page(request, rule.status_code, public_message(exc, rule), wait_s, rule.status_word)
        response.headers.update(headers)
        return response

    return handle


def register_error_handlers(
    app: FastAPI,
    *,
    pages: Mapping[str, ErrorPage] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Install one handler per row of ERROR_TABLE.

    Args:
        app: the application.
        pages: path → page renderer: a request to the path or below it gets a page (the console's HTML)
            with the same status, message and Retry-After instead of the JSON body.
        monotonic: the clock of the warning lines' rate limit (`warn_every_s`).
    """
    throttle = WarningThrottle(monotonic)
    app.state.warning_throttle = throttle  # log_passing_error's
    for error_class, rule in ERROR_TABLE.items():
        app.add_exception_handler(error_class, _handler_for(rule, throttle=throttle, pages=pages or {}))
