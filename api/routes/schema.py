"""The OpenAPI document, served only to authenticated callers (it maps the attack surface)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import AnyKey

router = APIRouter(tags=["meta"])


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _key: AnyKey) -> dict[str, Any]:
    """The application's OpenAPI schema (any valid API key)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
