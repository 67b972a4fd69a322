"""API-key authentication of one request: database check, rate limit of failures per client address, audit.

The key is read from the database on every request, so a revocation or an expiry takes effect at the
key's next use in every running server. Failed attempts are counted per client address in a moving window:
in this process (memory://, limits), across every worker and server sharing a Redis (redis://), or across
every server on the database (`database`: the audited failures themselves are counted); an address
over the limit gets 429 for every further failure until its window slides on. A key that authenticates is
served whatever its address's count: keys are 256-bit random secrets, so the limit cannot be what stops
a guess, and a gate or an admin behind the same NAT or proxy as a client sending wrong keys must not be
locked out with it. What the limit keeps away is the cost of failures: a failure over the limit costs one
indexed read, is neither counted nor audited, and is logged as one warning line per OVER_LIMIT_LINES'
interval whatever the number of clients and requests (the next line counts those left out). A counter store
that fails (Redis down) is logged and skipped, not turned into a 500 for every request: the key check
itself does not depend on it. Each failure under the limit becomes a denied event in the audit log (door
`api`) with the reason and the token's public id when it names a real key; the token itself is never logged
or stored.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from limits import RateLimitItemPerSecond
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.errors import ErrorRule, WarningThrottle
from storage import (
    API_AUDIT_DOOR,
    ApiKey,
    AuditEventCreate,
    AuthFailure,
    Cipher,
    Decision,
    Engine,
    Role,
    Session,
    append_event,
    authenticate,
    recent_auth_failures,
    session_scope,
)

logger = logging.getLogger(__name__)

DATABASE_STORAGE = "database"
"""auth_failure_storage that counts the failures audited in the database: shared by every server on it."""
_REDIS_TIMEOUTS_S = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
"""A Redis that stops answering costs a request at most this, not a hung worker."""

OVER_LIMIT_LINES = ErrorRule(429, warn_every_s=10.0)
"""The rate of the warning lines of failures over the limit, as the error handlers' (api/errors.py): a
steady flood of wrong keys, from one address or many, logged a line per request."""


class TooManyFailures(Exception):
    """This client address failed to authenticate too often; it must wait `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed authentications; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class AuthenticationFailed(Exception):
    """The presented token is malformed, unknown, wrong, revoked or expired."""

    def __init__(self, failure: AuthFailure) -> None:
        super().__init__(failure.value)
        self.failure = failure


@dataclass
class Authenticator:
    """Checks tokens against the database; counts and audits failures per client address.

    Build one per application (create_app): its failure counters live in `failure_storage`.

    Raises:
        ValueError: `failure_storage` names a store that cannot be used (e.g. redis:// without the
            `redis` package).
    """

    engine: Engine
    keyring: Cipher
    clock: Callable[[], datetime]
    max_failures: int
    window_s: int
    failure_storage: str = "memory://"
    monotonic: Callable[[], float] = time.monotonic
    """The clock of the over-limit warning lines' rate limit (OVER_LIMIT_LINES)."""

    def __post_init__(self) -> None:
        self._over_limit_lines = WarningThrottle(self.monotonic)
        self._rate = RateLimitItemPerSecond(self.max_failures, self.window_s)
        self._limiter: MovingWindowRateLimiter | None = None
        if self.failure_storage == DATABASE_STORAGE:
            return  # each failure under the limit is audited: its event is the count
        timeouts = {} if self.failure_storage.startswith("memory://") else _REDIS_TIMEOUTS_S
        try:
            storage = storage_from_string(self.failure_storage, wrap_exceptions=True, **timeouts)
        except ConfigurationError as exc:
            raise ValueError(f"auth_failure_storage {self.failure_storage!r}: {exc}") from exc
        self._limiter = MovingWindowRateLimiter(storage)

    def _retry_after_s(self, session: Session, client: str) -> int | None:
        """Seconds `client` must wait when over its limit; None when not or when the counters are down."""
        if self._limiter is None:
            return self._audited_retry_after_s(session, client)
        try:
            if self._limiter.test(self._rate, client):
                return None
            reset_at = self._limiter.get_window_stats(self._rate, client).reset_time
        except StorageError as exc:
            logger.error(
                "failed-authentication counters unreachable (%s); checking the key without them", exc
            )
            return None
        retry_after_s = max(1, int(reset_at - time.time()) + 1)  # limits keeps wall-clock time
        return min(retry_after_s, self.window_s)

    def _audited_retry_after_s(self, session: Session, client: str) -> int | None:
        """As `_retry_after_s`, from the failures of `client` audited in the window (by any server)."""
        now = self.clock()
        window = timedelta(seconds=self.window_s)
        recent = recent_auth_failures(session, client=client, since=now - window)
        if recent.count < self.max_failures or recent.oldest_at is None:
            return None
        retry_after_s = math.ceil((recent.oldest_at + window - now).total_seconds())
        return min(max(1, retry_after_s), self.window_s)

    def _count_failure(self, client: str) -> None:
        if self._limiter is None:
            return  # counted by its audit event
        try:
            self._limiter.hit(self._rate, client)
        except StorageError as exc:
            logger.error(
                "failed-authentication counters unreachable (%s); failure from %s not counted", exc, client
            )

    def _record_failure(
        self, session: Session, failure: AuthFailure, *, client: str, token_id: str | None
    ) -> None:
        """Count a failure of `client` and append its denied event to the audit log."""
        self._count_failure(client)
        source = client if token_id is None else f"{client} token {token_id}"
        event = AuditEventCreate(
            door=API_AUDIT_DOOR, source=source, decision=Decision.denied, reason=failure, model_id="-"
        )
        append_event(session, self.keyring, event)

    def authenticate(self, token: str, *, client: str, roles: Collection[Role] | None = None) -> ApiKey:
        """The key of `token`, recording its use; served even when `client` is over its failure limit.

        With `roles`, a key of another role is a failure too (`api_key_wrong_role`, audited with the
        key's public id): a device key at the console's sign-in is no less worth an auditor's look than
        a wrong one.

        Raises:
            TooManyFailures: the token does not authenticate (or has none of `roles`) and `client` is over
                its failure limit (not counted, not audited).
            AuthenticationFailed: the token does not authenticate, or its key has none of `roles` (counted
                and audited).
        """
        with session_scope(self.engine) as session:
            result = authenticate(session, token, now=self.clock())
            key, failure, token_id = result.key, result.failure, result.token_id
            if key is not None:
                if roles is None or key.role in roles:
                    return key
                failure, token_id = AuthFailure.wrong_role, key.key_id
            assert failure is not None
            retry_after_s = self._retry_after_s(session, client)
            if retry_after_s is None:
                self._record_failure(session, failure, client=client, token_id=token_id)
        if retry_after_s is not None:
            left_out = self._over_limit_lines.admit(OVER_LIMIT_LINES)
            if left_out is not None:
                more = f" ({left_out} more since the last such line)" if left_out else ""
                logger.warning("client %s over the failed-authentication limit%s", client, more)
            raise TooManyFailures(retry_after_s)
        logger.info("authentication failed from %s: %s", client, failure.value)
        raise AuthenticationFailed(failure)
