"""Errors raised by the gate.

GateError
├── CameraUnavailable   the frame source cannot be opened or stopped delivering
│   └── CameraStalled     a stream stayed connected but sent no frame within its read timeout
├── ActuatorError       the door could not be driven: the unlock never left the gate, the door stayed shut
│   └── DoorUnconfirmed   the unlock was sent but not confirmed in time: the door may have opened
├── GalleryStale        the database has been unreachable too long (or before any gallery was loaded)
├── ThresholdUnavailable the configured FPIR target needs a calibration the model does not have
├── DoorCalibrationRefused a door's monitor events cannot set its PAD threshold (too few, other weights)
│   └── UnknownCamera     the door has no camera of that name or audited source in the gates file
├── UpstreamUnavailable the audit log or gallery upstream (database or API) cannot be reached now
│   ├── ServerUnavailable the API answered a 5xx (its state, e.g. its database down, and its words)
│   └── NoAnswerInTime    the API sent no answer within the request's timeout
├── DeviceRefused       the API refuses this device (its key revoked or unknown, no door of its own)
├── UnknownDoor         the gate's door is no door upstream, by name or former name: every face is denied
└── JournalError        the local audit journal cannot be opened, written or read
    ├── JournalCorrupt    a complete journal line does not parse: the file was damaged, not torn by a crash
    └── JournalLocked     another gate process holds the journal directory
"""


class GateError(Exception):
    """Base class of every gate error."""


class CameraUnavailable(GateError):
    """The frame source cannot be opened or read; `cause` says why when it is known (an http(s) camera's
    answer to a probe: "HTTP 401 ...", "connection refused"), without the URL's password."""

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(f"{message}: {cause}" if cause else message)
        self.cause = cause


class CameraStalled(CameraUnavailable):
    """A stream URL stayed open but delivered no frame within its read timeout (not a clean end)."""


class ActuatorError(GateError):
    """The door actuator failed before its unlock command left the gate: the door stayed shut."""


class DoorUnconfirmed(ActuatorError):
    """The unlock command was sent (an MQTT PUBLISH, a webhook request written) but not confirmed in time
    (no PUBACK, a late or broken answer): the door may have opened, so it is no certain denial."""


class GalleryStale(GateError):
    """No gallery confirmed by the database recently enough to decide on: the gate must deny (F3)."""


class ThresholdUnavailable(GateError):
    """The door's threshold cannot be derived as configured; the gate refuses to start (F3)."""


class DoorCalibrationRefused(GateError):
    """The door's monitor events cannot set its PAD threshold: too few, other PAD weights or another score."""


class UnknownCamera(DoorCalibrationRefused):
    """The door has no camera of that name (or source as audited) in the gates file: a usage error."""


class UpstreamUnavailable(GateError):
    """The database or the API cannot be reached now; the caller retries later, not before `retry_after_s`
    when the API said how long to wait (a 503's or 429's Retry-After, in seconds)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def wait_s(self, backoff_s: float, *, max_s: float) -> float:
        """The wait before the next attempt: `backoff_s`, or the Retry-After when longer, but at most
        `max_s` (a proxy's Retry-After of hours must not let a gallery go stale or a journal grow)."""
        if self.retry_after_s is None:
            return backoff_s
        return max(backoff_s, min(self.retry_after_s, max_s))


class ServerUnavailable(UpstreamUnavailable):
    """The API answered a 5xx: it is reachable, what is behind it is not (or it failed). Its `status_word`
    names why when its JSON body has one (`database_unavailable`, `schema_missing`, `commit_unconfirmed`);
    `detail` holds the server's words ('' when it sent none: a bare 502)."""

    def __init__(
        self,
        message: str,
        *,
        status_word: str | None,
        detail: str,
        status: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.status_word = status_word
        self.detail = detail
        self.status = status
        """The HTTP status and its reason phrase, `502 Bad Gateway`."""

    @property
    def is_passing(self) -> bool:
        """Whether a wait alone can end it: not a missing schema (an operator must run `facegate init`)."""
        return self.status_word != "schema_missing"

    @property
    def problem(self) -> str:
        """The server's state in words, for the log and the gate's health: 'server schema missing: …', or
        without a state 'server answered 503 Service Unavailable: the shared gallery is still loading …'."""
        if self.status_word is not None:
            return f"server {self.status_word.replace('_', ' ')}: {self.detail}"
        if self.detail and self.detail != self.status:
            return f"server answered {self.status}: {self.detail}"
        return f"server answered {self.status}"


class NoAnswerInTime(UpstreamUnavailable):
    """The API did not answer within the request's timeout: it may be away (a host that drops packets) or
    still waiting for its database, which it gives up on only after its own timeouts
    (FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S, FACEGATE_DATABASE_STATEMENT_TIMEOUT_S) and answers 503."""


class DeviceRefused(GateError):
    """The API refused the device's key (401/403) or its request (4xx): retrying will not help."""


class UnknownDoor(GateError):
    """The configured door is no door upstream (not its name nor a former name; for an edge gate, not one
    of its device key's doors): there are no rules to apply, so the gate denies every face (F3)."""


class JournalError(GateError):
    """The local audit journal failed."""


class JournalCorrupt(JournalError):
    """A journal line other than a torn last one is not a valid entry."""


class JournalLocked(JournalError):
    """Another process writes to this journal directory."""
