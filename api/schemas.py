"""Request and response models the storage package does not already provide.

No model here carries an embedding, ciphertext, nonce or key material (I2); a test walks the
OpenAPI schema to check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from enrollment import EnrollmentResult, FaceIdentity
from recognition import OperatingThreshold
from storage import (
    AcknowledgedBreak,
    ApiKeyPublic,
    AuditEventPublic,
    ChainBreak,
    ChainReport,
    Checkpoint,
    Role,
)

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list endpoint and the total number of matching items."""

    items: list[T]
    total: int = Field(ge=0, description="Items matching the query across all pages.")
    offset: int = Field(ge=0, description="Items skipped before this page.")
    limit: int = Field(ge=1, description="Most items a page holds.")


class EventsPage(Page[AuditEventPublic]):
    """A page of audit events and the keyset cursor of the next one."""

    total: int | None = Field(  # type: ignore[assignment]
        ge=0, description="Events matching the filter across all pages; null when with_total=false."
    )

    next_before_sequence: int | None = Field(
        description="Pass as `before_sequence` for the next (older) page; null when this page is the last."
    )


class PersonCreate(BaseModel):
    """Body of POST /people and PATCH /people/{person_id}."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="Display name of the person.")


class DoorCreate(BaseModel):
    """Body of POST /doors and PATCH /doors/{door_id}."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="Door name, unique; gates use it.")


class GroupCreate(BaseModel):
    """Body of POST /access/groups."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="Group name, unique.")


class ApiKeyCreate(BaseModel):
    """Body of POST /api-keys."""

    model_config = ConfigDict(extra="forbid")
    role: Role = Field(description="admin (everything), auditor (audit log, read-only) or device (a gate).")
    label: str = Field(min_length=1, max_length=100, description="Who or what holds the key.")
    expires_at: AwareDatetime | None = Field(
        None, description="Instant the key stops working, ISO 8601 with a zone; must be in the future."
    )
    doors: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Device keys only: the doors its edge gate serves (gallery and events of these doors), "
        "each by its name now or a former one; a name no door has or had is refused (422) unless "
        "`create_doors`.",
    )
    create_doors: bool = Field(
        False,
        description="Register each of `doors` that no door has or had as a new door. A new door has no "
        "rules, so it admits every enrolled person: a misspelt name would open it.",
    )


class ApiKeyCreatedPublic(ApiKeyPublic):
    """A new key: `token` is shown this once and cannot be read again."""

    token: str = Field(description="The credential: send it as `Authorization: Bearer <token>`.")


class PossibleDuplicatePublic(BaseModel):
    """An uploaded photo whose face already matches a different enrolled person."""

    photo: str
    person_id: int = Field(description="The other enrolled person it matches.")
    score: float = Field(description="Cosine similarity to that person's closest template (-1..1).")


class EnrollmentPublic(BaseModel):
    """Result of an enrollment: the new templates of one person, and possible duplicates (a warning)."""

    person_id: int
    template_ids: list[str] = Field(description="Ids of the templates this request added.")
    templates_added: int = Field(ge=0)
    possible_duplicates: list[PossibleDuplicatePublic] = Field(
        description=(
            "Photos matching a DIFFERENT enrolled person at or above cos_threshold: the same person "
            "enrolled twice, or a look-alike. Stored anyway unless FACEGATE_ENROLLMENT_ALLOW_DUPLICATES "
            "is false, which refuses them with 422."
        )
    )
    cos_threshold: float = Field(description="The model's match threshold the duplicates were checked at.")

    @classmethod
    def from_result(
        cls, result: EnrollmentResult, *, person_id: int, cos_threshold: float
    ) -> EnrollmentPublic:
        """Public view of enrollment.enroll's result."""
        return cls(
            person_id=person_id,
            template_ids=result.template_ids,
            templates_added=len(result.template_ids),
            possible_duplicates=[
                PossibleDuplicatePublic(photo=d.photo, person_id=d.person_id, score=d.score)
                for d in result.possible_duplicates
            ],
            cos_threshold=cos_threshold,
        )


class CandidatePublic(BaseModel):
    """An enrolled person and their best cosine similarity to the probe face (-1..1)."""

    person_id: int
    score: float


class BBoxPublic(BaseModel):
    """Face box in integer pixels of the uploaded image."""

    x1: int
    y1: int
    x2: int
    y2: int


class FacePublic(BaseModel):
    """One face found in the probe image."""

    bbox: BBoxPublic
    detection_score: float = Field(description="Detector confidence, 0..1.")
    person_id: int | None = Field(
        description="Best candidate if it reaches the threshold, else null (unknown)."
    )
    candidates: list[CandidatePublic] = Field(description="Closest enrolled people, best first.")


class IdentifyPublic(BaseModel):
    """Every face in one probe image with its closest enrolled people, and the threshold applied."""

    faces: list[FacePublic]
    cos_threshold: float = Field(description="Cosine similarity at or above which a candidate is a match.")
    threshold_policy: str = Field(
        description="How the threshold was chosen: the gate's FPIR policy at this gallery size, or the "
        "model's default."
    )
    fpir_target: float | None = Field(description="FPIR target the threshold holds; null: model default.")
    gallery_size: int = Field(ge=0, description="Templates searched (the size the threshold was set for).")
    model_id: str

    @classmethod
    def from_faces(
        cls, faces: Sequence[FaceIdentity], *, threshold: OperatingThreshold, model_id: str
    ) -> IdentifyPublic:
        """Public view of enrollment.identify's result."""
        return cls(
            faces=[
                FacePublic(
                    bbox=BBoxPublic(
                        x1=f.face.bbox[0], y1=f.face.bbox[1], x2=f.face.bbox[2], y2=f.face.bbox[3]
                    ),
                    detection_score=f.face.score,
                    person_id=f.person_id,
                    candidates=[CandidatePublic(person_id=m.person_id, score=m.score) for m in f.candidates],
                )
                for f in faces
            ],
            cos_threshold=threshold.cos_threshold,
            threshold_policy=threshold.basis,
            fpir_target=threshold.fpir_target,
            gallery_size=threshold.gallery_size,
            model_id=model_id,
        )


class ProblemPublic(BaseModel):
    """Why one uploaded photo was refused."""

    photo: str
    reason: str


class ErrorPublic(BaseModel):
    """Body of every 4xx/5xx answer produced by the error table."""

    detail: str


class UnavailablePublic(ErrorPublic):
    """Body of a 503: `status` says `database_unavailable` when the database cannot be reached,
    `schema_missing` when it lacks the schema this server needs, and `commit_unconfirmed` when the
    connection was lost while a change was committed."""

    status: Literal["database_unavailable", "schema_missing", "commit_unconfirmed"] | None = Field(
        default=None,
        description="`database_unavailable` (the word /readyz answers) when the database cannot be reached; "
        "`schema_missing` when it lacks the schema this server needs (no Retry-After: an operator must run "
        "`facegate init`); `commit_unconfirmed` when the connection was lost while a change was committed "
        "(no Retry-After: it may have been stored, check before repeating it); absent for the other causes.",
    )


class ValidationIssuePublic(BaseModel):
    """One input that failed validation (FastAPI's format)."""

    loc: list[str | int]
    msg: str
    type: str


class UnprocessablePublic(BaseModel):
    """Body of every 422: the request parsed but a value is unusable.

    `detail` is a list of issues for a malformed parameter or body, or one sentence for a domain check
    (an unusable photo, an expiry in the past); an enrollment adds every refused photo in `problems`.
    """

    detail: str | list[ValidationIssuePublic]
    problems: list[ProblemPublic] | None = None
    status: Literal["idempotency_key_reused"] | None = Field(
        default=None, description="`idempotency_key_reused`: the Idempotency-Key came with another request."
    )


class ConflictPublic(ErrorPublic):
    """Body of a 409: a name already taken, or (`status`) a request with the same Idempotency-Key still
    being processed, or an audit event that cannot be read."""

    status: Literal["idempotency_key_in_flight", "audit_event_unreadable"] | None = Field(
        default=None,
        description="`idempotency_key_in_flight`: the first request with this key is still being processed; "
        "nothing was done, and the same request sent again later gets its answer. "
        "`audit_event_unreadable`: an audit event holds a value FaceGate never writes (edited outside it).",
    )


class StatusPublic(BaseModel):
    """Body of the liveness route; nothing else is disclosed."""

    status: str


class ReadinessPublic(BaseModel):
    """Body of the readiness route, ready or not; nothing else is disclosed."""

    status: Literal[
        "ready", "loading", "failed", "database_unavailable", "schema_missing", "keyring_error"
    ] = Field(
        description="`ready` (200); else why not (503, with Retry-After): the gallery is `loading`, its last "
        "load `failed` and waits out a backoff, or the database cannot be reached (`database_unavailable`); "
        "or (503 without Retry-After) the database lacks the schema this server needs (`schema_missing`), or "
        "this server's master keys cannot read what is stored (`keyring_error`: a wrong or missing master "
        "key)."
    )


class ChainReportPublic(BaseModel):
    """Outcome of recomputing the audit log's hash chain; where and why it first breaks, if it does."""

    is_ok: bool = Field(description="True when every event verified and the head matches the last one.")
    events_checked: int = Field(ge=0, description="Events that verified, in sequence order.")
    last_sequence: int = Field(ge=0, description="Sequence number of the last event that verified.")
    last_link_hash: str = Field(description="Hex link of that event; compare it with a signed checkpoint.")
    reason: ChainBreak | None = Field(description="Why the chain breaks, or null when it holds.")
    broken_sequence: int | None = Field(description="First broken position (for a deletion: the first gap).")
    broken_event_id: int | None = Field(description="Row id of the event found there, when there is one.")
    detail: str = Field(description="One line on the break, empty when the chain holds.")
    start_sequence: int = Field(
        ge=0, description="The walk began after this event, a checked checkpoint's; 0: the whole chain."
    )
    not_verified: str = Field(
        description="One line naming the events up to the checkpoint, which were not verified; empty when "
        "the whole chain was walked."
    )
    acknowledged_breaks: list[AcknowledgedBreak] = Field(
        description="Breaks before the checkpoint that its signer acknowledged when re-anchoring the chain "
        "(`facegate audit checkpoint export --acknowledge-break`); empty for a plain checkpoint or the "
        "whole chain."
    )

    @classmethod
    def from_report(cls, report: ChainReport, *, checkpoint: Checkpoint | None = None) -> ChainReportPublic:
        """Public view of storage.verify_chain's report, or verify_chain_since's from `checkpoint`."""
        return cls(
            is_ok=report.is_ok,
            events_checked=report.events_checked,
            last_sequence=report.last_sequence,
            last_link_hash=report.last_link_hash,
            reason=report.reason,
            broken_sequence=report.broken_sequence,
            broken_event_id=report.broken_event_id,
            detail=report.detail,
            start_sequence=report.start_sequence,
            not_verified="" if checkpoint is None else checkpoint.not_verified(),
            acknowledged_breaks=[] if checkpoint is None else list(checkpoint.acknowledged_breaks),
        )
