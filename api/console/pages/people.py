"""People (admin): list, enroll (upload or webcam, a verdict per photo), add photos, delete, look-alikes."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import RedirectResponse, Response

from api.console.auth import AdminForm, AdminPage, ConsoleUser
from api.console.changes import Refusal, apply_change
from api.console.once import FormOnceDep, Kept, Landing, Replayed, change_once, redirect_once
from api.console.templating import render
from api.deps import ServicesDep, SessionDep
from api.services import AppServices
from api.uploads import read_photo
from enrollment import EnrollmentRejected, EnrollmentResult, Photo, confusable_pairs, distinct_names
from storage import (
    ErasedBy,
    ErasureReportPublic,
    NotFound,
    Session,
    count_templates_without_lookalikes,
    delete_template,
    erase_person,
    get_person,
    list_people,
    list_person_templates,
    rename_person,
    subject_access,
    to_public,
)

router = APIRouter(prefix="/ui/people", include_in_schema=False)
PAGE_SIZE = 50
_MAX_TEMPLATES = 200
Photos = Annotated[list[UploadFile], File(description="Photos of the person, one face each.")]


def _erased_by(services: AppServices, user: ConsoleUser) -> ErasedBy:
    """Who erases, for the audit event: this console session's key, as the Integrity page names it."""
    return ErasedBy(services.keyring, f"console key {user.label} ({user.key_id})", services.clock())


def _photos(uploads: list[UploadFile], services: AppServices) -> list[Photo]:
    """The uploads as Photos, named as enrollment's refusals name them (`distinct_names`)."""
    max_bytes = services.recognizer.limits.max_image_bytes
    return distinct_names(
        [
            read_photo(upload, fallback_name=f"photo {i + 1}", max_bytes=max_bytes)
            for i, upload in enumerate(uploads)
            if upload.filename
        ]
    )


def _added(person_id: int, result: EnrollmentResult) -> Landing:
    """The person's page, saying how many templates the form added."""
    return Landing(f"/ui/people/{person_id}?added={len(result.template_ids)}", person_id=person_id)


def _verdicts(photos: list[Photo], rejected: EnrollmentRejected) -> list[tuple[str, str | None]]:
    """(photo name, reason it was refused or None) for every photo, then request-level problems."""
    reasons = {problem.photo: problem.reason for problem in rejected.problems}
    verdicts = [(photo.name, reasons.pop(photo.name, None)) for photo in photos]
    return verdicts + list(reasons.items())


@router.get("")
def people_list(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminPage,
    q: Annotated[str, Query(max_length=200, description="Part of the name, any case.")] = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Enrolled people whose name contains `q`, one page at a time, with their templates of the running model
    (and of other models, which its gallery does not hold)."""
    model_id = services.recognizer.model_id
    people, total = list_people(
        session, name_contains=q or None, offset=offset, limit=PAGE_SIZE, model_id=model_id
    )
    query = urlencode({"q": q}) + "&" if q else ""
    return render(
        request,
        "people.html",
        user=user,
        people=people,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        q=q,
        query=query,
        model_id=model_id,
    )


@router.get("/new")
def new_person_form(request: Request, user: AdminPage) -> Response:
    """The enrollment form: a name and several photos (upload or webcam)."""
    return render(request, "person_new.html", user=user, name="", verdicts=[], error=None)


@router.post("")
def enroll_person(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    once: FormOnceDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    photos: Photos,
) -> Response:
    """Create a person from photos, all or nothing; a refusal lists every photo with its verdict."""
    read = _photos(photos, services)
    try:
        outcome = redirect_once(
            session,
            once,
            lambda s: services.enroll_new_person(s, name=name, photos=read),
            to=lambda made: _added(*made),
        )
    except EnrollmentRejected as exc:
        return render(
            request,
            "person_new.html",
            user=user,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            name=name,
            verdicts=_verdicts(read, exc),
            error=None,
        )
    if isinstance(outcome, Refusal):
        page = render(request, "person_new.html", user=user, name=name, verdicts=[], error=outcome.message)
        return outcome.shown(page)
    return outcome


def _person_page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    person_id: int,
    *,
    model_id: str,
    refusal: Refusal | None = None,
    **context: Any,
) -> Response:
    """The person's page (saying why a form was refused), or the not-found page when they are gone."""
    try:
        person = to_public(session, get_person(session, person_id), model_id=model_id)
    except NotFound:
        return _not_found(request, user)
    templates, _ = list_person_templates(session, person_id, limit=_MAX_TEMPLATES)
    context = {"added": None, "verdicts": [], "rename_to": None, **context}
    page = render(
        request,
        "person.html",
        user=user,
        person=person,
        templates=templates,
        model_id=model_id,
        error=None if refusal is None else refusal.message,
        **context,
    )
    return page if refusal is None else refusal.shown(page)


def _not_found(request: Request, user: ConsoleUser) -> Response:
    return render(request, "not_found.html", user=user, status_code=status.HTTP_404_NOT_FOUND)


@router.get("/lookalikes")
def lookalikes(request: Request, session: SessionDep, services: ServicesDep, user: AdminPage) -> Response:
    """Pairs of people whose closest templates score near the model's threshold (as `people confusable`)."""
    threshold = services.recognizer.cos_threshold
    floor = threshold - services.enrollment.confusable_margin_cos
    pairs = confusable_pairs(session, services.keyring, services.recognizer, min_score=floor)
    ids = {person_id for pair in pairs for person_id in (pair.person_a, pair.person_b)}
    names = {person_id: get_person(session, person_id).name for person_id in ids}
    unrecorded = count_templates_without_lookalikes(session, model_id=services.recognizer.model_id)
    return render(
        request,
        "lookalikes.html",
        user=user,
        pairs=pairs,
        names=names,
        floor=floor,
        threshold=threshold,
        unrecorded=unrecorded,
    )


@router.get("/{person_id}")
def person_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminPage,
    person_id: int,
    added: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """One person: templates, add photos, delete."""
    model_id = services.recognizer.model_id
    return _person_page(request, session, user, person_id, model_id=model_id, added=added)


@router.post("/{person_id}/photos")
def add_photos(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    once: FormOnceDep,
    person_id: int,
    photos: Photos,
) -> Response:
    """Add templates from more photos, all or nothing."""
    read = _photos(photos, services)
    try:
        outcome = redirect_once(
            session,
            once,
            lambda s: services.enroll(s, person_id=person_id, photos=read),
            to=lambda result: _added(person_id, result),
        )
    except EnrollmentRejected as exc:
        verdicts = _verdicts(read, exc)
        model_id = services.recognizer.model_id
        response = _person_page(request, session, user, person_id, model_id=model_id, verdicts=verdicts)
        response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
        return response
    if isinstance(outcome, Refusal):
        model_id = services.recognizer.model_id
        return _person_page(request, session, user, person_id, model_id=model_id, refusal=outcome)
    return outcome


@router.post("/{person_id}/rename")
def rename(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    person_id: int,
    name: Annotated[str, Form(min_length=1, max_length=200)],
) -> Response:
    """Give the person a new display name."""
    model_id = services.recognizer.model_id
    outcome = apply_change(session, lambda s: rename_person(s, person_id, name=name, model_id=model_id))
    if isinstance(outcome, Refusal):
        return _person_page(
            request, session, user, person_id, model_id=model_id, refusal=outcome, rename_to=name
        )
    return RedirectResponse(f"/ui/people/{person_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{person_id}/templates/{template_id}/delete")
def delete_one_template(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    once: FormOnceDep,
    person_id: int,
    template_id: str,
) -> Response:
    """Delete one template (a poor photo, say); the person keeps the others. Sent again, back to the
    person's page as the first sending went."""
    outcome = redirect_once(
        session,
        once,
        lambda s: delete_template(
            s, person_id=person_id, template_id=template_id, erased_by=_erased_by(services, user)
        ),
        to=lambda _: Landing(f"/ui/people/{person_id}", person_id=person_id),
    )
    if isinstance(outcome, Refusal):
        model_id = services.recognizer.model_id
        return _person_page(request, session, user, person_id, model_id=model_id, refusal=outcome)
    return outcome


def _confirm_page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    person_id: int,
    *,
    model_id: str,
    refusal: Refusal | None,
) -> Response:
    try:
        person = to_public(session, get_person(session, person_id), model_id=model_id)
    except NotFound:
        return _not_found(request, user)
    error = None if refusal is None else refusal.message
    page = render(request, "person_delete.html", user=user, person=person, error=error)
    return page if refusal is None else refusal.shown(page)


@router.get("/{person_id}/delete")
def confirm_delete(
    request: Request, session: SessionDep, services: ServicesDep, user: AdminPage, person_id: int
) -> Response:
    """Ask before deleting: the person and every template are erased."""
    model_id = services.recognizer.model_id
    return _confirm_page(request, session, user, person_id, model_id=model_id, refusal=None)


@router.post("/{person_id}/delete")
def delete(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    once: FormOnceDep,
    person_id: int,
) -> Response:
    """Erase the person and show what went (templates, data key, memberships) and what the log keeps.
    Sent again, the same report without the name: it is stored as the API's erasure report is, tied to no
    person and naming only the id."""

    def erase(change_session: Session) -> tuple[str, ErasureReportPublic]:
        name = get_person(change_session, person_id).name
        return name, erase_person(change_session, person_id, erased_by=_erased_by(services, user))

    outcome = change_once(
        session, once, erase, keep=lambda erased: Kept(erased[1], status_code=200), kind=ErasureReportPublic
    )
    if isinstance(outcome, Refusal):
        model_id = services.recognizer.model_id
        return _confirm_page(request, session, user, person_id, model_id=model_id, refusal=outcome)
    if isinstance(outcome, Replayed):
        return render(request, "person_erased.html", user=user, name=None, report=outcome.answer)
    name, report = outcome
    return render(request, "person_erased.html", user=user, name=name, report=report)


@router.get("/{person_id}/export.json")
def subject_access_export(
    request: Request, session: SessionDep, services: ServicesDep, user: AdminPage, person_id: int
) -> Response:
    """Everything stored about the person (subject access, as GET /people/{id}/export), as a download; the
    console's not-found page when they are gone (a link followed after an erasure)."""
    try:
        export = subject_access(
            session, person_id, now=services.clock(), model_id=services.recognizer.model_id
        )
    except NotFound:
        return _not_found(request, user)
    return Response(
        export.model_dump_json(indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="facegate-person-{person_id}.json"',
            "Cache-Control": "no-store",
        },
    )
