"""The `facegate serve` app as a uvicorn factory, so that bench/api_load.py can run it with --workers.

Each worker builds its own engine, keyring and models from the environment (FACEGATE_DATABASE_URL,
FACEGATE_MASTER_KEY), exactly as `facegate serve` does; device syncs poll (no shared change feed).
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from api.cli.runtime import build_runtime
from api.services import AppServices
from api.settings import ApiSettings
from storage import StorageSettings


def build() -> FastAPI:
    runtime = build_runtime(StorageSettings())
    services = AppServices(
        engine=runtime.engine,
        keyring=runtime.keyring,
        recognizer=runtime.recognizer,
        enrollment=runtime.enrollment,
    )
    return create_app(services, settings=ApiSettings())
