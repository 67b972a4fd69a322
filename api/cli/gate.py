"""`facegate gate`: run the gate on one video source for one door."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from api.cli.runtime import Runtime, build_runtime, cli_errors, configure_logging
from gate import GalleryCache, GateDecision, GateSettings, build_door, open_frames, redacted_source, run_gate
from storage import (
    AuditEventCreate,
    Decision,
    StorageSettings,
    append_event,
    ensure_door,
    get_person,
    session_scope,
)

console = Console()


def gate_decisions(
    runtime: Runtime, *, source: str, door: str, settings: GateSettings
) -> Iterator[GateDecision]:
    """Wire the gate to the database and the configured door; run it over a source until it ends.

    A live source (camera index, stream URL) never ends on its own: it is read for its newest frame
    and reopened after an outage until the command is interrupted.
    """
    with session_scope(runtime.engine) as session:
        ensure_door(session, name=door)
    gallery = GalleryCache(
        engine=runtime.engine,
        keyring=runtime.keyring,
        recognizer=runtime.recognizer,
        poll_s=settings.gallery_poll_s,
        monotonic=time.monotonic,
    )

    def record(event: AuditEventCreate) -> None:
        with session_scope(runtime.engine) as session:
            append_event(session, runtime.keyring, event)

    actuator = build_door(settings.door, utc_now=lambda: datetime.now(UTC), monotonic=time.monotonic)
    frames = open_frames(
        source,
        decode=runtime.recognizer.decode,
        monotonic=time.monotonic,
        timeout_s=settings.camera_timeout_s,
        reconnect_initial_s=settings.camera_reconnect_initial_s,
        reconnect_max_s=settings.camera_reconnect_max_s,
    )
    try:
        with frames as items:
            yield from run_gate(
                items,
                door=door,
                source_name=redacted_source(source),
                recognizer=runtime.recognizer,
                gallery=gallery.current,
                actuator=actuator,
                record=record,
                settings=settings,
            )
    finally:
        actuator.close()


def describe(runtime: Runtime, decision: GateDecision) -> str:
    """One line an operator reads: what was decided, for whom, and on which numbers."""
    verdict = decision.verdict
    numbers = f"score {verdict.score:.3f}, threshold {decision.threshold:.3f}"
    if verdict.decision is Decision.granted and verdict.person_id is not None:
        with session_scope(runtime.engine) as session:
            name = get_person(session, verdict.person_id).name
        who = f"{name} (person {verdict.person_id})"
        return f"frame {decision.frame_index:4d} track {decision.track_id:3d}: granted  {who}, {numbers}"
    return (
        f"frame {decision.frame_index:4d} track {decision.track_id:3d}: denied   {verdict.reason}, {numbers}"
    )


def gate_command(
    source: Annotated[
        str,
        typer.Option(help="Camera index, RTSP/HTTP(S) URL, video file, or folder of images (in name order)."),
    ],
    door: Annotated[str, typer.Option(help="Name of the door this gate controls.")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")] = False,
) -> None:
    """Run the gate: detect, match, decide k-of-n per track, audit every decision."""
    configure_logging(verbose=verbose)
    with cli_errors():
        settings = GateSettings()
        runtime = build_runtime(StorageSettings())
        for decision in gate_decisions(runtime, source=source, door=door, settings=settings):
            console.print(describe(runtime, decision), markup=False, highlight=False)
