"""Integrity (auditor, admin): recompute the audit log's hash chain, whole or from a signed checkpoint the
auditor uploads or pastes; download a signed checkpoint; an admin re-anchors after an investigated break."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.responses import Response

from api.console.auth import AdminForm, AuditorForm, AuditorPage, ConsoleUser
from api.console.changes import Refusal, refusal_of
from api.console.once import FormOnceDep, Kept, Replayed, change_once
from api.console.templating import render
from api.deps import ServicesDep, SessionDep
from api.schemas import ChainReportPublic
from storage import (
    BreakNotAcknowledged,
    ChainBroken,
    Checkpoint,
    CheckpointInvalid,
    CheckpointMismatch,
    Session,
    export_checkpoint,
    parse_checkpoint,
    reanchor_checkpoint,
    verify_chain,
    verify_chain_since,
)

router = APIRouter(prefix="/ui/integrity", include_in_schema=False)
MAX_CHECKPOINT_BYTES = 16_384
"""A checkpoint's JSON has some 400 bytes: a larger file or paste is refused unread."""


@router.get("")
def integrity_page(request: Request, user: AuditorPage) -> Response:
    """The two actions, before either has run."""
    return render(request, "integrity.html", user=user, report=None, error=None)


@router.post("/verify")
def verify(request: Request, session: SessionDep, services: ServicesDep, user: AuditorForm) -> Response:
    """Recompute every link and show the verdict (the first broken link, if any)."""
    report = ChainReportPublic.from_report(verify_chain(session, services.keyring))
    return render(request, "integrity.html", user=user, report=report, error=None)


def _posted_document(upload: UploadFile | None, pasted: str) -> bytes | str | None:
    """The uploaded file's bytes (at most one more than the limit), else the pasted text; None: neither."""
    if upload is not None and upload.filename:
        return upload.file.read(MAX_CHECKPOINT_BYTES + 1)
    return pasted if pasted.strip() else None


def _refused(
    request: Request, user: ConsoleUser, message: str, *, status_code: int, pasted: str = ""
) -> Response:
    """The page with why the checkpoint was refused, in the words the API answers it with; a pasted
    checkpoint stays in its box, to correct rather than paste again."""
    error = f"Checkpoint refused: {message}"
    return render(
        request,
        "integrity.html",
        user=user,
        report=None,
        error=error,
        pasted=pasted,
        status_code=status_code,
    )


@router.post("/verify-since")
def verify_since(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AuditorForm,
    checkpoint_file: Annotated[UploadFile | None, File(description="A checkpoint's JSON file.")] = None,
    checkpoint_json: Annotated[str, Form(description="A checkpoint's JSON, pasted.")] = "",
) -> Response:
    """Recompute the links after an uploaded or pasted checkpoint (`verify_chain_since`, as `facegate audit
    verify --since-checkpoint`); the verdict states that the events up to it were not verified."""
    unusable = status.HTTP_422_UNPROCESSABLE_CONTENT
    document = _posted_document(checkpoint_file, checkpoint_json)
    if document is None:
        return _refused(request, user, "choose a checkpoint file or paste its JSON", status_code=unusable)
    if len(document) > MAX_CHECKPOINT_BYTES:
        message = f"larger than {MAX_CHECKPOINT_BYTES} bytes, so not a checkpoint"
        return _refused(request, user, message, status_code=unusable)
    try:
        checkpoint = parse_checkpoint(document)
        report = verify_chain_since(session, services.keyring, checkpoint)
    except (CheckpointInvalid, CheckpointMismatch) as exc:
        refusal = refusal_of(exc)
        pasted = document if isinstance(document, str) else ""
        return _refused(request, user, refusal.message, status_code=refusal.status_code, pasted=pasted)
    public = ChainReportPublic.from_report(report, checkpoint=checkpoint)
    return render(request, "integrity.html", user=user, report=public, error=None)


@router.post("/checkpoint")
def checkpoint(request: Request, session: SessionDep, services: ServicesDep, user: AuditorForm) -> Response:
    """The signed checkpoint of the chain's last event, as a JSON download (refused if the chain breaks)."""
    now = datetime.now(UTC)
    try:
        signed = export_checkpoint(session, services.keyring, now=now)
    except ChainBroken as exc:
        return _page_error(request, user, str(exc), status_code=status.HTTP_409_CONFLICT)
    return _download(signed, now)


@router.post("/reanchor")
def reanchor(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    once: FormOnceDep,
    breaks: Annotated[str, Form(description="Every break's sequence, commas or spaces between.")] = "",
    note: Annotated[str, Form(description="What the investigation found, e.g. a ticket.")] = "",
) -> Response:
    """Re-anchor after an investigated break (`reanchor_checkpoint`, as `facegate audit checkpoint export
    --acknowledge-break SEQ --note TEXT`): the acknowledgement event names this console key as who
    acknowledged, and the signed v2 checkpoint of it comes back as a JSON download. Admins only: it appends
    to the log and signs with the master key. A refusal appends nothing. The same form sent again (a double
    click: its page stays as it was, since the answer is a download) appends nothing and downloads the
    checkpoint its first sending signed."""
    unusable = status.HTTP_422_UNPROCESSABLE_CONTENT
    sequences = _sequences(breaks)
    if sequences is None:
        message = "name each break's sequence as `Verify the chain` reports it, e.g. 3 or 3, 17"
        return _page_error(request, user, message, status_code=unusable, breaks=breaks, note=note)
    if not note.strip():
        message = "say what the investigation found (a ticket), kept in the acknowledgement event"
        return _page_error(request, user, message, status_code=unusable, breaks=breaks, note=note)

    def acknowledge(change_session: Session) -> Checkpoint:
        return reanchor_checkpoint(
            change_session,
            services.keyring,
            acknowledged=sequences,
            acknowledged_by=f"console key {user.label} ({user.key_id})",
            note=note.strip(),
            now=datetime.now(UTC),
        )

    try:
        outcome = change_once(session, once, acknowledge, keep=_kept_checkpoint, kind=Checkpoint)
    except BreakNotAcknowledged as exc:
        return _page_error(request, user, str(exc), status_code=unusable, breaks=breaks, note=note)
    except ChainBroken as exc:
        conflict = status.HTTP_409_CONFLICT
        return _page_error(request, user, str(exc), status_code=conflict, breaks=breaks, note=note)
    if isinstance(outcome, Refusal):
        page = _page_error(request, user, outcome.message, status_code=unusable, breaks=breaks, note=note)
        return outcome.shown(page)
    signed = outcome.answer if isinstance(outcome, Replayed) else outcome
    return _download(signed, signed.created_at)


def _kept_checkpoint(signed: Checkpoint) -> Kept[Checkpoint]:
    """A re-anchoring's signed checkpoint, kept as the answer to its form (a checkpoint is no secret: it is
    handed to auditors)."""
    return Kept(signed, status_code=status.HTTP_200_OK)


def _sequences(text: str) -> list[int] | None:
    """The positive whole numbers in `text` (ASCII digits), commas or spaces between; None: none, or anything
    else (a superscript ² is a digit to str.isdigit but no number to int)."""
    words = text.replace(",", " ").split()
    if not words or not all(word.isascii() and word.isdigit() and int(word) > 0 for word in words):
        return None
    return [int(word) for word in words]


def _page_error(
    request: Request, user: ConsoleUser, message: str, *, status_code: int, breaks: str = "", note: str = ""
) -> Response:
    """The page with why an action was refused; a re-anchoring's input stays in its boxes."""
    return render(
        request,
        "integrity.html",
        user=user,
        report=None,
        error=message,
        breaks=breaks,
        note=note,
        status_code=status_code,
    )


def _download(signed: Checkpoint, now: datetime) -> Response:
    """A signed checkpoint as a JSON attachment named by its sequence and time."""
    filename = f"facegate-checkpoint-{signed.sequence}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    return Response(
        signed.to_json(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
