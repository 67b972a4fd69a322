"""The API reference for signed-in users: Swagger UI with its assets served from this server, never a CDN.

The assets are the Swagger UI build that the `fastapi-offline` wheel ships (MIT; Swagger UI itself is
Apache-2.0), read from the installed package. The page and the schema need a console session (admin or
auditor); "Try it out" calls the API, which asks for an API key through Swagger's Authorize button.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from api.console.auth import SignedInPage

router = APIRouter(prefix="/ui", include_in_schema=False)
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
_ASSET_URL = "/ui/docs/assets/"


@router.get("/docs", response_class=HTMLResponse)
def docs_page(_user: SignedInPage) -> HTMLResponse:
    """Swagger UI over this server's schema; nothing is fetched from elsewhere (no validator badge)."""
    return get_swagger_ui_html(
        openapi_url="/ui/openapi.json",
        title="FaceGate API reference",
        swagger_js_url=f"{_ASSET_URL}swagger-ui-bundle.js",
        swagger_css_url=f"{_ASSET_URL}swagger-ui.css",
        swagger_favicon_url=f"{_ASSET_URL}favicon.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/openapi.json")
def openapi_schema(request: Request, _user: SignedInPage) -> dict[str, Any]:
    """The API's OpenAPI schema, for the signed-in console user (API clients use /openapi.json)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/docs/assets/{name}")
def docs_asset(name: str, _user: SignedInPage) -> FileResponse:
    """One Swagger UI file from the installed `fastapi_offline` package."""
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such asset")
    path = importlib.resources.files("fastapi_offline") / "static" / name
    return FileResponse(str(path), media_type=ASSETS[name])
