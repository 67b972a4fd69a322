"""`facegate serve`: the HTTP API under uvicorn."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated

import typer
import uvicorn

from api.app import create_app
from api.cli.runtime import cli_errors, configure_logging, open_runtime
from api.idempotency_purge import IdempotencyPurger
from api.services import AppServices
from api.settings import ApiSettings
from storage import GalleryChangeFeed, StorageSettings


def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default from FACEGATE_API_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default from FACEGATE_API_PORT).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")] = False,
) -> None:
    """Serve the admin, auditor and device API."""
    configure_logging(verbose=verbose)
    with ExitStack() as closing:  # the engine is closed once the server has stopped
        with cli_errors():
            settings = ApiSettings()
            runtime = closing.enter_context(open_runtime(StorageSettings()))
            feed = GalleryChangeFeed(
                runtime.engine, mode=settings.gallery_feed, poll_s=settings.gallery_feed_poll_s
            )
            services = AppServices(
                engine=runtime.engine,
                keyring=runtime.keyring,
                recognizer=runtime.recognizer,
                enrollment=runtime.enrollment,
                pad=runtime.pad,
                gallery_feed=feed,
            )
            purger = IdempotencyPurger(
                runtime.engine, retention_s=settings.idempotency_retention_s, clock=services.clock
            )
        feed.start()
        purger.start()
        try:
            app = create_app(services, settings=settings)
            uvicorn.run(app, host=host or settings.host, port=port or settings.port)
        finally:
            purger.stop()
            feed.stop()
