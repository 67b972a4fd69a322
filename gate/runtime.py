"""A gate's host parts (a database gate's or an edge gate's) and the gallery source each one needs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gate.edge import ApiGallerySource
from gate.gallery_source import DatabaseGallerySource, GateUpstream
from gate.settings import ApiGallerySourceConfig, GateSettings
from recognition import RecognitionSettings, Recognizer, build_recognizer
from storage import Cipher, Engine, StorageSettings, load_keyring, open_database, private_directory


@dataclass(frozen=True)
class GateRuntime:
    """A database gate's host parts: storage settings, database, master keyring and models."""

    storage: StorageSettings
    engine: Engine
    keyring: Cipher
    recognizer: Recognizer


@dataclass(frozen=True)
class EdgeRuntime:
    """An edge gate's host parts: its home directory, models and API link; no database, no master key."""

    storage: StorageSettings
    recognizer: Recognizer
    api: ApiGallerySourceConfig


def build_gate_runtime(storage_settings: StorageSettings, *, create_key: bool = False) -> GateRuntime:
    """Open the database, load the keyring and the models; the caller closes `engine`."""
    engine = open_database(storage_settings)
    try:
        return GateRuntime(
            storage=storage_settings,
            engine=engine,
            keyring=load_keyring(storage_settings, create_if_missing=create_key),
            recognizer=_recognizer(storage_settings),
        )
    except BaseException:
        engine.dispose()  # the caller gets no engine to close (no master key, say): its connection goes now
        raise


def _recognizer(storage_settings: StorageSettings) -> Recognizer:
    return build_recognizer(RecognitionSettings(), cache_dir=storage_settings.home / "models")


def build_runtime_for(settings: GateSettings, storage_settings: StorageSettings) -> GateRuntime | EdgeRuntime:
    """The runtime the gallery source kind needs: the database's, or an edge gate's (the API's)."""
    source = settings.gallery_source
    if isinstance(source, ApiGallerySourceConfig):
        private_directory(storage_settings.home)
        return EdgeRuntime(storage=storage_settings, recognizer=_recognizer(storage_settings), api=source)
    return build_gate_runtime(storage_settings)


@contextmanager
def opened_runtime(settings: GateSettings, storage: StorageSettings) -> Iterator[GateRuntime | EdgeRuntime]:
    """`build_runtime_for` for one run; a database runtime's engine is disposed however the run ends."""
    runtime = build_runtime_for(settings, storage)
    try:
        yield runtime
    finally:
        if isinstance(runtime, GateRuntime):
            runtime.engine.dispose()


def gallery_source_for(
    runtime: GateRuntime | EdgeRuntime, *, door: str, settings: GateSettings
) -> GateUpstream:
    """The database source for a database runtime, the API source (sealed, edge) for an edge runtime."""
    if isinstance(runtime, EdgeRuntime):
        return ApiGallerySource(
            runtime.api,
            door=door,
            home=runtime.storage.home,
            recognizer=runtime.recognizer,
            max_stale_s=settings.gallery_max_stale_s,
            monotonic=time.monotonic,
            error_log_interval_s=settings.decision.error_audit_interval_s,
        )
    return DatabaseGallerySource(
        engine=runtime.engine,
        keyring=runtime.keyring,
        recognizer=runtime.recognizer,
        door=door,
        settings=settings,
        monotonic=time.monotonic,
    )
