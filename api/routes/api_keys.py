"""API keys (admin): create for any role, list, revoke; a revoked key fails at its next request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import AdminKey, Limit, Offset, ServicesDep, SessionDep
from api.schemas import ApiKeyCreate, ApiKeyCreatedPublic, ErrorPublic, Page
from storage import ApiKeyPublic, bind_device_doors, create_api_key, list_api_keys, revoke_api_key

router = APIRouter(prefix="/api-keys", tags=["api-keys"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No key has this id."}
}


@router.post("", status_code=status.HTTP_201_CREATED)
def create(
    body: ApiKeyCreate, session: SessionDep, services: ServicesDep, _key: AdminKey
) -> ApiKeyCreatedPublic:
    """Create a key; the response holds its token, which is shown only this once.

    `doors` binds a device key to the doors its edge gate serves (422 for other roles), each by its
    name now or a former one (which binds the door it names now). A name no door has or had is 422 and
    nothing is created, unless `create_doors` registers it (without rules: it admits everyone).
    """
    token, public = create_api_key(
        session, role=body.role, label=body.label, now=services.clock(), expires_at=body.expires_at
    )
    if body.doors:
        bind_device_doors(session, key_id=public.token_id, doors=body.doors, create_doors=body.create_doors)
    return ApiKeyCreatedPublic(**public.model_dump(), token=token)


@router.get("")
def list_(session: SessionDep, _key: AdminKey, offset: Offset = 0, limit: Limit = 50) -> Page[ApiKeyPublic]:
    """Every key, revoked and expired ones included, oldest first; never a secret."""
    items, total = list_api_keys(session, offset=offset, limit=limit)
    return Page[ApiKeyPublic](items=items, total=total, offset=offset, limit=limit)


@router.post("/{token_id}/revoke", responses=_NOT_FOUND)
def revoke(token_id: str, session: SessionDep, services: ServicesDep, _key: AdminKey) -> ApiKeyPublic:
    """Revoke a key now: its next request, in any running server, gets 401."""
    return revoke_api_key(session, token_id, now=services.clock())
