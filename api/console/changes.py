"""A console form's change in a transaction of its own, and the refusal its page shows instead of JSON.

A change can meet what another request did meanwhile: a name taken (Conflict), a row deleted (NotFound,
MissingReference), a deadlock or serialization failure PostgreSQL rolled back (TransactionAborted), or
the shared gallery being loaded in full by another request (GalleryLoading, before anything is written). The
database raises them at the INSERT or at the commit, after the route's own checks; from a request's
session they would reach the API's error table and answer a form with a bare JSON body. Here the change
is committed before the page is answered, and a refusal comes back as a value the page renders with the
user's input (its status code and words from the same table).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi.responses import Response

from api.errors import public_message, retry_after_s, rule_for
from enrollment import GalleryLoading
from storage import Conflict, DoorsLeftOpen, NotFound, Session, TransactionAborted, transaction

logger = logging.getLogger(__name__)
T = TypeVar("T")

REFUSED: tuple[type[Exception], ...] = (Conflict, NotFound, TransactionAborted, GalleryLoading)
"""What a form's change may meet from a concurrent one (MissingReference is a NotFound; GalleryLoading:
another request is loading the shared gallery in full, retry shortly)."""


@dataclass(frozen=True)
class Refusal:
    """Why a form's change was refused (the database, a gallery still loading); nothing of it was stored."""

    message: str
    status_code: int
    retry_after_s: int | None = None
    open_doors: tuple[str, ...] = ()
    """A deletion refused since it would leave these doors without rules (DoorsLeftOpen): the page may
    offer to delete anyway, knowingly."""

    def shown(self, response: Response) -> Response:
        """`response` (the form's page with `message` in it) with this refusal's status and Retry-After."""
        response.status_code = self.status_code
        if self.retry_after_s is not None:
            response.headers["Retry-After"] = str(self.retry_after_s)
        return response


def refusal_of(exc: Exception) -> Refusal:
    """The refusal for `exc`, with the status code and words the API's error table gives it."""
    rule = rule_for(exc)
    assert rule is not None, "ERROR_TABLE lists every REFUSED error and StorageError"
    return Refusal(
        message=public_message(exc, rule),
        status_code=rule.status_code,
        retry_after_s=retry_after_s(exc, rule),
        open_doors=exc.doors if isinstance(exc, DoorsLeftOpen) else (),
    )


def apply_change(session: Session, change: Callable[[Session], T]) -> T | Refusal:
    """Run `change` in a transaction of its own on the request's `session`, committed on return; a
    refusal when it meets a concurrent one (rolled back; the page is then rendered from `session`).

    The request's reads so far (its session check) are committed first, which hands their connection back
    to the pool: a request never holds one connection while it waits for a second (k forms at once need
    k pooled connections, not 2k).

    Raises:
        StorageError: anything else (the API's error table answers it, as for any route).
    """
    try:
        with transaction(session):
            return change(session)
    except REFUSED as exc:
        logger.info("console change refused: %s", type(exc).__name__)
        return refusal_of(exc)
