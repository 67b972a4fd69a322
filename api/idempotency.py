"""The `Idempotency-Key` request header of the create routes, a door's rename and erasure (IETF httpapi
draft "The Idempotency-Key HTTP Header Field"): a retried request is answered with the stored answer of its
first run, not run again.

A route takes `once: IdempotencyDep` as its last parameter and returns `once.remember(answer)`. Before the
route runs, the dependency looks the caller's key up in the request's transaction: a key seen with the same
request replays the stored status and body (the first answer's bytes) with `Idempotent-Replayed: true`; seen
with another request it is 422 `idempotency_key_reused`; held by a request still running (PostgreSQL) 409
`idempotency_key_in_flight`.
`remember` stores the answer in the same transaction as the route's change, so a COMMIT whose answer was lost
(503 `commit_unconfirmed`) stored both or neither, and the retry with the same key replays or runs it once.
Only answers that succeed are stored: a refused request stored nothing and may be sent again with its key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from api.deps import AnyKey, ServicesDep, SessionDep, SettingsDep
from storage import (
    IdempotentRequest,
    Session,
    StoredResponse,
    find_idempotent_response,
    record_idempotent_response,
)

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_CHUNK_BYTES = 1 << 20

Answer = TypeVar("Answer", bound=BaseModel)


class ReplayStoredResponse(Exception):  # noqa: N818  (control flow, not an error: handled by _replay)
    """Raised by the dependency to answer with a stored response instead of running the route."""

    def __init__(self, response: StoredResponse, *, key_id: str) -> None:
        super().__init__(f"replay of the answer stored for a key of {key_id}")
        self.response = response
        self.key_id = key_id


def _put(digest: hashlib._Hash, data: bytes) -> None:
    """Length-prefixed, so that no two different sequences of parts hash alike."""
    digest.update(f"{len(data)}:".encode())
    digest.update(data)


def _canonical_json(body: bytes) -> bytes:
    """The same JSON however the client spaced or ordered it; other bodies as they are."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return body


async def _hash_upload(digest: hashlib._Hash, upload: UploadFile) -> None:
    content = hashlib.sha256()
    await upload.seek(0)
    while chunk := await upload.read(_CHUNK_BYTES):
        content.update(chunk)
    await upload.seek(0)  # the route reads it next
    _put(digest, (upload.filename or "").encode())
    _put(digest, content.digest())


async def request_sha256(request: Request) -> str:
    """The request's fingerprint; empty when it carries no Idempotency-Key (its files are not read for
    nothing)."""
    if IDEMPOTENCY_HEADER not in request.headers:
        return ""
    return await request_fingerprint(request)


async def request_fingerprint(request: Request) -> str:
    """sha256 of what the request asks for: method, path, query and body. A form's parts count by name,
    value, file name and file bytes, not by their multipart framing (its boundary changes at every send)."""
    digest = hashlib.sha256()
    _put(digest, f"{request.method} {request.url.path}?{request.url.query}".encode())
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        _put(digest, _canonical_json(await request.body()))
        return digest.hexdigest()
    for name, value in (await request.form()).multi_items():  # FastAPI parsed it already: cached
        _put(digest, name.encode())
        if isinstance(value, str):
            _put(digest, value.encode())
        else:
            await _hash_upload(digest, value)
    return digest.hexdigest()


@dataclass(frozen=True)
class Idempotency:
    """A request's idempotency key, checked; `remember` stores the route's answer under it."""

    session: Session
    request: IdempotentRequest | None
    """None: the request has no Idempotency-Key, and nothing is stored."""
    status_code: int
    now: datetime

    def remember(self, answer: Answer, *, person_id: int | None = None) -> Answer:
        """Store `answer` (a `…Public` model) under the key in the request's transaction; returns it.

        `person_id`: the person the answer names (their name, their templates): deleting or erasing them
        deletes the stored answer too, so nothing of them outlives an erasure here.
        """
        if self.request is not None:
            # Pydantic's JSON of the answer, as FastAPI writes the first answer: a replay is the same bytes.
            body = answer.model_dump_json(by_alias=True)
            stored = StoredResponse(self.status_code, body, person_id=person_id)
            record_idempotent_response(self.session, self.request, stored, now=self.now)
        return answer


def get_idempotency(
    request: Request,
    session: SessionDep,
    key: AnyKey,
    services: ServicesDep,
    settings: SettingsDep,
    fingerprint: Annotated[str, Depends(request_sha256)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            min_length=1,
            max_length=255,
            pattern=r"^[\x20-\x7e]+$",
            description=(
                "A unique value the client chose for this request (a UUID, say): sent again with the same "
                "request, the first answer is replayed (same status and body, header "
                "`Idempotent-Replayed: true`) and nothing is done again. Sent with another request: 422 "
                "`idempotency_key_reused`; while the first is still processed: 409 "
                "`idempotency_key_in_flight`. Kept per API key for FACEGATE_API_IDEMPOTENCY_RETENTION_S."
            ),
        ),
    ] = None,
) -> Idempotency:
    """The request's idempotency key, checked against the answers stored for its caller.

    Raises:
        ReplayStoredResponse: the same request was answered before: answer that again.
        IdempotencyKeyReused: the key came with another request before (422).
        IdempotencyKeyInFlight: a request with the key is still being processed (409).
    """
    route = request.scope["route"]
    assert isinstance(route, APIRoute)
    now = services.clock()
    status_code = route.status_code or 200
    if idempotency_key is None:
        return Idempotency(session=session, request=None, status_code=status_code, now=now)
    keyed = IdempotentRequest(
        key_id=key.key_id,
        idempotency_key=idempotency_key,
        route=f"{request.method} {route.path}",
        request_sha256=fingerprint,
    )
    since = now - timedelta(seconds=settings.idempotency_retention_s)
    stored = find_idempotent_response(session, keyed, created_since=since)
    if stored is not None:
        raise ReplayStoredResponse(stored, key_id=key.key_id)
    return Idempotency(session=session, request=keyed, status_code=status_code, now=now)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ReplayStoredResponse)
    logger.info("%s %s: replayed the stored answer to key %s", request.method, request.url.path, exc.key_id)
    return Response(
        content=exc.response.response_json,
        status_code=exc.response.status_code,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


def register_idempotency(app: FastAPI) -> None:
    """Install the handler that answers a replayed request with its stored answer."""
    app.add_exception_handler(ReplayStoredResponse, _replay)
