"""One-time keys of the console's forms that create or delete: the same rendered form sent twice acts once.

A double click on Create, a reload of the answer (the browser sends the form again) or back and send again
would otherwise create two people, two rules, two API keys, or the same templates twice, and a delete form
sent again would answer "not found" for what its first sending had just deleted. Each such form carries a
`form_key` field drawn when the page is rendered (the `form_key()` template global). Its handler runs its
change through `change_once` (`redirect_once` for a form answered by a redirect), which stores what the
change led to (the redirect, an erasure's report, a created key's id and label) as the API's
`Idempotency-Key` does (api/idempotency.py): among storage's idempotent answers, under the signed-in API
key, in the change's transaction. The same form sent again with the same values gets the first sending's
answer and changes nothing; the form's key is stored with the request's fingerprint, so one edited before
it is sent again (after back) is a new request, and a freshly rendered form has a fresh key. A created API
key's secret is never stored: a form sent again names the key it created and says the secret was shown on
the first answer only.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.console.auth import AdminForm
from api.console.changes import Refusal, apply_change, refusal_of
from api.deps import ServicesDep, SettingsDep
from api.idempotency import request_fingerprint
from storage import (
    IdempotencyKeyInFlight,
    IdempotentRequest,
    Session,
    StoredResponse,
    find_idempotent_response,
    record_idempotent_response,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
A = TypeVar("A", bound=BaseModel)

IN_FLIGHT_POLL_S = 0.2
IN_FLIGHT_WAIT_S = 60.0
"""How long a form sent again waits for its first sending, still running, to end (a double click on an
enrollment of several photos): the browser shows the answer to the last sending, so it waits and shows
where the first led, not a refusal while the first goes on."""


def new_form_key() -> str:
    """A fresh key for one rendered form (the `form_key()` template global)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Landing:
    """Where a form's change leads: the page the browser is redirected to."""

    location: str
    person_id: int | None = None
    """The person the page names: deleting or erasing them deletes the stored answer too."""


@dataclass(frozen=True)
class FormOnce:
    """A form's one-time key, scoped to the signed-in key, the route and the form's values."""

    request: IdempotentRequest | None
    """None: the form carried no key (a client of its own), and nothing is stored."""
    now: datetime
    created_since: datetime
    """Answers stored before this have expired (FACEGATE_API_IDEMPOTENCY_RETENTION_S)."""
    sleep: Callable[[float], None] = time.sleep


async def form_once(
    request: Request,
    user: AdminForm,
    services: ServicesDep,
    settings: SettingsDep,
    form_key: Annotated[str | None, Form(min_length=1, max_length=100)] = None,
) -> FormOnce:
    """The posted form's key; its CSRF token is checked first (AdminForm)."""
    now = services.clock()
    since = now - timedelta(seconds=settings.idempotency_retention_s)
    if form_key is None:
        return FormOnce(request=None, now=now, created_since=since)
    route = request.scope["route"]
    assert isinstance(route, APIRoute)
    fingerprint = await request_fingerprint(request)
    keyed = IdempotentRequest(
        key_id=user.key_id,
        idempotency_key=f"console.{form_key}.{fingerprint}",
        route=f"{request.method} {route.path}",
        request_sha256=fingerprint,
    )
    return FormOnce(request=keyed, now=now, created_since=since)


FormOnceDep = Annotated[FormOnce, Depends(form_once)]


class _StillRunning(Exception):
    """The form's first sending is still being processed; this transaction changed nothing."""


@dataclass(frozen=True)
class Kept(Generic[A]):
    """What a form's change led to, stored as the answer to its key: never a secret (a created API key's
    token is on its first answer only) and never a name tied to no person."""

    answer: A
    person_id: int | None = None
    """The person the answer names: deleting or erasing them deletes the stored answer too."""
    status_code: int = status.HTTP_303_SEE_OTHER


@dataclass(frozen=True)
class Replayed(Generic[A]):
    """What the form's first sending kept: this sending changed nothing."""

    answer: A


class _Location(BaseModel):
    """A redirect's stored answer."""

    location: str


def _run_once(
    session: Session,
    once: FormOnce,
    keyed: IdempotentRequest,
    change: Callable[[Session], T],
    *,
    keep: Callable[[T], Kept[A]],
    kind: type[A],
) -> T | Replayed[A]:
    try:
        stored = find_idempotent_response(session, keyed, created_since=once.created_since)
        if stored is not None:
            logger.info("console form of key %s sent again: answered as its first sending", keyed.key_id)
            return Replayed(kind.model_validate_json(stored.response_json))
        result = change(session)
        kept = keep(result)
        answer = StoredResponse(kept.status_code, kept.answer.model_dump_json(), person_id=kept.person_id)
        record_idempotent_response(session, keyed, answer, now=once.now)
    except IdempotencyKeyInFlight as exc:
        raise _StillRunning from exc
    return result


def change_once(
    session: Session,
    once: FormOnce | None,
    change: Callable[[Session], T],
    *,
    keep: Callable[[T], Kept[A]],
    kind: type[A],
) -> T | Replayed[A] | Refusal:
    """Run a form's `change` (apply_change) once for its key: its result, `keep(result)` stored with it;
    or, when the form was sent before, what its first sending kept (of type `kind`); a refusal as
    apply_change's (nothing stored: the form may be sent again), unless a sending of the same form, run at
    the same time, made the change meanwhile: then what that one kept. `once` None or without a key (a
    client of its own): run it as apply_change does.

    Raises:
        What apply_change raises, and what `change` raises (EnrollmentRejected, say).
    """
    if once is None or once.request is None:
        return apply_change(session, change)
    keyed = once.request
    for attempt in range(round(IN_FLIGHT_WAIT_S / IN_FLIGHT_POLL_S)):
        try:
            outcome = apply_change(session, lambda s: _run_once(s, once, keyed, change, keep=keep, kind=kind))
        except _StillRunning:
            if attempt == 0:
                logger.info("console form of key %s sent again while its first sending runs", keyed.key_id)
            once.sleep(IN_FLIGHT_POLL_S)
            continue
        if isinstance(outcome, Refusal):
            return _answered_meanwhile(session, once, keyed, kind=kind) or outcome
        return outcome
    logger.info("console form of key %s: its first sending still runs", keyed.key_id)
    message = "this form was sent again while its first sending is still processed: reload this page later"
    return refusal_of(IdempotencyKeyInFlight(message))


def _answered_meanwhile(
    session: Session, once: FormOnce, keyed: IdempotentRequest, *, kind: type[A]
) -> Replayed[A] | None:
    """What a sending of the same form kept, when it made its change while this one ran into it; else None.

    On SQLite nothing holds a form's key while its change runs (PostgreSQL's advisory lock does): two
    sendings at once (a double click with JavaScript off, a slow answer) both find no answer, one makes the
    change, and the other, waiting for the write lock, then meets it: "another access group has the same
    name", "group 1 does not exist", "'hall' is not a former name" for what its own form just did, and the
    browser shows the last sending's answer. Such a refusal is answered as the first sending instead.
    """
    stored = apply_change(
        session, lambda s: find_idempotent_response(s, keyed, created_since=once.created_since)
    )
    if stored is None or isinstance(stored, Refusal):
        return None
    logger.info("console form of key %s sent twice at once: answered as the sending that ran", keyed.key_id)
    return Replayed(kind.model_validate_json(stored.response_json))


def _kept(landing: Landing) -> Kept[_Location]:
    return Kept(_Location(location=landing.location), person_id=landing.person_id)


def redirect_once(
    session: Session, once: FormOnce | None, change: Callable[[Session], T], *, to: Callable[[T], Landing]
) -> Response | Refusal:
    """change_once for a form answered by a redirect: to `to(result)`, or to where the form's first
    sending led; a refusal as apply_change's.

    Raises:
        What apply_change raises, and what `change` raises (EnrollmentRejected, say).
    """
    outcome = change_once(session, once, lambda s: to(change(s)), keep=_kept, kind=_Location)
    if isinstance(outcome, Refusal):
        return outcome
    location = outcome.answer.location if isinstance(outcome, Replayed) else outcome.location
    return RedirectResponse(location, status_code=status.HTTP_303_SEE_OTHER)
