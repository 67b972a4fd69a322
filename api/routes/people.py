"""People: create, list, read and delete (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api.deps import AdminKey, Limit, Offset, RowId, ServicesDep, SessionDep
from api.errors import IDEMPOTENT_RESPONSES
from api.idempotency import IdempotencyDep
from api.schemas import ErrorPublic, Page, PersonCreate
from api.services import AppServices
from storage import (
    ApiKey,
    ErasedBy,
    ErasureReportPublic,
    PersonPublic,
    SubjectAccessPublic,
    TemplatePublic,
    create_person,
    delete_person,
    delete_template,
    erase_person,
    get_person,
    list_people,
    list_person_templates,
    rename_person,
    subject_access,
    to_public,
)

router = APIRouter(prefix="/people", tags=["people"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such person."}
}


def _erased_by(key: ApiKey, services: AppServices) -> ErasedBy:
    """Who erases, for the audit event: the request's API key (its label and token id)."""
    return ErasedBy(services.keyring, f"API key {key.label} ({key.key_id})", services.clock())


@router.post("", status_code=status.HTTP_201_CREATED, responses=IDEMPOTENT_RESPONSES)
def create(
    body: PersonCreate, session: SessionDep, services: ServicesDep, _key: AdminKey, once: IdempotencyDep
) -> PersonPublic:
    """Create a person with no templates yet; safe to retry with the same `Idempotency-Key`."""
    person = to_public(session, create_person(session, name=body.name), model_id=services.recognizer.model_id)
    return once.remember(person, person_id=person.id)


@router.get("")
def list_(
    session: SessionDep,
    services: ServicesDep,
    _key: AdminKey,
    name: Annotated[
        str | None, Query(max_length=200, description="Only people whose name contains this, any case.")
    ] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PersonPublic]:
    """People ordered by id, one page at a time; `total` counts every match. `template_count` counts the
    running model's templates only (what the gallery searches), `other_model_template_count` the rest."""
    model_id = services.recognizer.model_id
    items, total = list_people(session, name_contains=name, offset=offset, limit=limit, model_id=model_id)
    return Page[PersonPublic](items=items, total=total, offset=offset, limit=limit)


@router.get("/{person_id}", responses=_NOT_FOUND)
def read(person_id: RowId, session: SessionDep, services: ServicesDep, _key: AdminKey) -> PersonPublic:
    """One person and their number of templates of the running model, and of other models."""
    return to_public(session, get_person(session, person_id), model_id=services.recognizer.model_id)


@router.patch("/{person_id}", responses=_NOT_FOUND)
def rename(
    person_id: RowId, body: PersonCreate, session: SessionDep, services: ServicesDep, _key: AdminKey
) -> PersonPublic:
    """Give a person a new display name (templates and access are unchanged)."""
    return rename_person(session, person_id, name=body.name, model_id=services.recognizer.model_id)


@router.delete("/{person_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
def delete(person_id: RowId, session: SessionDep, services: ServicesDep, key: AdminKey) -> None:
    """Delete a person and erase every template; gates drop them when they see the new gallery version.
    The audit log records the erasure (by this key, now) under the person's id."""
    delete_person(session, person_id, erased_by=_erased_by(key, services))


@router.get("/{person_id}/templates", responses=_NOT_FOUND)
def list_templates(
    person_id: RowId, session: SessionDep, _key: AdminKey, offset: Offset = 0, limit: Limit = 50
) -> Page[TemplatePublic]:
    """A person's templates, oldest first: source photo, model, quality measures, date (never the vector)."""
    items, total = list_person_templates(session, person_id, offset=offset, limit=limit)
    return Page[TemplatePublic](items=items, total=total, offset=offset, limit=limit)


@router.delete(
    "/{person_id}/templates/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such template of this person."}
    },
)
def delete_one_template(
    person_id: RowId, template_id: str, session: SessionDep, services: ServicesDep, key: AdminKey
) -> None:
    """Delete one template (a poor photo, say); gates drop it at their next gallery check. The audit log
    records the deletion (by this key, now, the template's id)."""
    erased_by = _erased_by(key, services)
    delete_template(session, person_id=person_id, template_id=template_id, erased_by=erased_by)


@router.get("/{person_id}/export", responses=_NOT_FOUND)
def export_subject(
    person_id: RowId, session: SessionDep, services: ServicesDep, _key: AdminKey
) -> SubjectAccessPublic:
    """Subject access: the person, their groups, template metadata and every audit event naming them."""
    return subject_access(session, person_id, now=services.clock(), model_id=services.recognizer.model_id)


@router.post("/{person_id}/erase", responses={**_NOT_FOUND, **IDEMPOTENT_RESPONSES})
def erase(
    person_id: RowId, session: SessionDep, services: ServicesDep, key: AdminKey, once: IdempotencyDep
) -> ErasureReportPublic:
    """Erase a person and report what was removed (templates, data key, memberships) and what is kept;
    the audit log records the erasure (by this key, now) under the person's id.

    Safe to retry with the same `Idempotency-Key`: the retry of an erasure that committed (its answer lost,
    a 503 `commit_unconfirmed`) gets the same report again instead of a 404, and erases nothing.
    """
    # Stored without person_id: their row is gone (its foreign key would refuse the answer), and the report
    # names them by id only, as the audit log keeps it (F6); it expires with the retention as any answer.
    return once.remember(erase_person(session, person_id, erased_by=_erased_by(key, services)))
