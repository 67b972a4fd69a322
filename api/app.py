"""Composition of the HTTP API: create_app builds a FastAPI application from ready-made services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import Authenticator
from api.console import CONSOLE_PATH, error_page, include_console
from api.errors import AUTHENTICATED_RESPONSES, register_error_handlers
from api.idempotency import register_idempotency
from api.routes import (
    access,
    api_keys,
    audit,
    devices,
    doors,
    enrollments,
    events,
    health,
    identify,
    people,
    schema,
)
from api.services import AppServices
from api.settings import ApiSettings


def create_app(services: AppServices, *, settings: ApiSettings | None = None) -> FastAPI:
    """The FastAPI application: routers, error handlers, the request body limit, and a lifespan that
    loads the shared gallery in the background from startup (requests meanwhile are answered 503 with
    Retry-After, not held) and stops that load at shutdown.

    FastAPI's own /docs, /redoc and unauthenticated /openapi.json are off; the schema is served at
    /openapi.json to any valid API key. /healthz and /readyz are the only unauthenticated routes of the
    API; the web console under /ui authenticates with a session cookie made from an API key.

    The app never disposes `services.engine`: its lifespan starts and stops the gallery load only. The
    caller that built the services (the composition root) closes the engine once it is done with it:
    `facegate serve` after the server has stopped, tests after their apps (which may share one engine).

    Args:
        services: engine, keyring, recognizer and enrollment settings built by the caller.
        settings: HTTP settings; read from FACEGATE_API_* when omitted.
    """
    settings = settings if settings is not None else ApiSettings.model_validate({})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.gallery.start(services.engine)
        try:
            yield
        finally:
            services.gallery.close()

    app = FastAPI(
        title="FaceGate",
        summary="Face-recognition access control: people, enrollment, identification, audit log.",
        version="0.1.0",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        max_body_size=settings.max_upload_bytes,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.settings = settings
    app.state.authenticator = Authenticator(
        engine=services.engine,
        keyring=services.keyring,
        clock=services.clock,
        max_failures=settings.auth_max_failures,
        window_s=settings.auth_failure_window_s,
        failure_storage=settings.auth_failure_storage,
        monotonic=services.monotonic,
    )
    app.include_router(health.router)
    for module in (
        people,
        enrollments,
        identify,
        events,
        audit,
        access,
        doors,
        api_keys,
        devices,
        schema,
    ):
        app.include_router(module.router, responses=AUTHENTICATED_RESPONSES)
    register_error_handlers(app, pages={CONSOLE_PATH: error_page}, monotonic=services.monotonic)
    register_idempotency(app)
    include_console(app, settings)
    return app
