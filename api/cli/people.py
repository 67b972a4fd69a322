"""`facegate people`: list and delete enrolled people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from api.cli.consoles import console, err_console, print_table
from api.cli.progress import gallery_load_progress, progress_bars
from api.cli.runtime import cli_errors, database_session, open_runtime, operator_login
from enrollment import backfill_lookalikes, confusable_pairs
from recognition import ModelLoadError, RecognitionSettings, active_model_id
from storage import (
    ErasedBy,
    Session,
    StorageSettings,
    count_templates_without_lookalikes,
    delete_person,
    get_person,
    list_people,
    load_keyring,
    people_of_other_models,
    session_scope,
)

people_app = typer.Typer(
    help="List and delete enrolled people; list look-alikes and backfill their records.", no_args_is_help=True
)


@people_app.command("list")
def list_command(
    offset: Annotated[int, typer.Option(min=0, help="Skip this many people.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many people.")] = 100,
) -> None:
    """List people with their number of templates of the active model (and of other models); then those
    enrolled only under other models, whom no gate recognises until they are enrolled again."""
    with cli_errors():
        model_id, unknown = _active_model()
        with database_session(StorageSettings()) as session:
            people, total = list_people(session, offset=offset, limit=limit, model_id=model_id)
            stale = unknown or _people_to_enroll_again(session, model_id=model_id)
    columns = ("templates", "other models") if model_id else ("templates (all models)",)
    table = Table("id", "name", *columns, "created (UTC)", title=f"{total} people")
    for person in people:
        counts = (str(person.template_count), str(person.other_model_template_count))[: len(columns)]
        # to the second: the column the counts of other models took (a table within 80 columns)
        table.add_row(str(person.id), person.name, *counts, person.created_at.isoformat(timespec="seconds"))
    print_table(table)
    if stale:
        err_console.print(stale)


def _active_model() -> tuple[str | None, str | None]:
    """The active model's id, or None and why it cannot be told (an unknown or invalid bundle)."""
    try:
        return active_model_id(RecognitionSettings()), None
    except ModelLoadError as exc:
        return None, f"cannot tell who must be enrolled again under the configured model: {exc}"


def _people_to_enroll_again(session: Session, *, model_id: str | None) -> str | None:
    """Who has templates only of other models than the active one (a model switch), as a note; None if nobody.

    A gallery holds only the active model's templates, which the table's `templates` counts.
    """
    if model_id is None:
        return None
    people = people_of_other_models(session, model_id=model_id)
    if not people:
        return None
    lines = [
        f"{len(people)} {'person has' if len(people) == 1 else 'people have'} templates of other models "
        "only, "
        f"none of the active model {model_id}: no gate or API search finds them until they are enrolled "
        "again (facegate enroll --person-id ID PHOTO...)"
    ]
    for person in people:
        models = ", ".join(f"{count} of {other}" for other, count in person.templates_by_model.items())
        lines.append(f"  {person.id} {person.name}: {models}")
    return "\n".join(lines)


@people_app.command("delete")
def delete_command(person_id: Annotated[int, typer.Argument(help="Id of the person to delete.")]) -> None:
    """Delete a person and erase every template; gates drop them at their next gallery check."""
    with cli_errors():
        settings = StorageSettings()
        erased_by = ErasedBy(load_keyring(settings), f"CLI user {operator_login()}", datetime.now(UTC))
        with database_session(settings) as session:
            removed = delete_person(session, person_id, erased_by=erased_by)
    console.print(f"person {person_id} deleted, {removed} templates erased")


@people_app.command("confusable")
def confusable_command(
    min_score: Annotated[
        float | None,
        typer.Option(
            min=-1.0,
            max=1.0,
            help=(
                "List pairs whose closest templates score at least this cosine "
                "(default: the model's threshold minus FACEGATE_ENROLLMENT_CONFUSABLE_MARGIN_COS)."
            ),
        ),
    ] = None,
) -> None:
    """List pairs of enrolled people who look alike (twins, siblings, duplicates), closest first."""
    with cli_errors(), open_runtime(StorageSettings()) as runtime:
        threshold = runtime.recognizer.cos_threshold
        floor = threshold - runtime.enrollment.confusable_margin_cos if min_score is None else min_score
        with session_scope(runtime.engine) as session:
            with gallery_load_progress() as progress:
                pairs = confusable_pairs(
                    session, runtime.keyring, runtime.recognizer, min_score=floor, progress=progress
                )
            unrecorded = count_templates_without_lookalikes(session, model_id=runtime.recognizer.model_id)
            names = {
                person_id: get_person(session, person_id).name
                for pair in pairs
                for person_id in (pair.person_a, pair.person_b)
            }
    title = f"{len(pairs)} confusable pairs (score ≥ {floor:.3f}; match threshold {threshold:.3f})"
    table = Table("person a", "person b", "score", "", title=title)
    for pair in pairs:
        table.add_row(
            f"{pair.person_a} {names[pair.person_a]}",
            f"{pair.person_b} {names[pair.person_b]}",
            f"{pair.score:.3f}",
            "above the match threshold" if pair.score >= threshold else "",
        )
    print_table(table)
    if unrecorded:
        console.print(f"{unrecorded} {BACKFILL_HINT}")


BACKFILL_HINT = (
    "templates have no stored look-alike record (stored before migration 0011): their pairs are "
    "found by search and listed, but every gate load searches them again; "
    "`facegate people backfill-lookalikes` stores their records"
)


@people_app.command("backfill-lookalikes")
def backfill_lookalikes_command(
    batch_templates: Annotated[
        int, typer.Option(min=1, max=100_000, help="Records computed and written per transaction.")
    ] = 1024,
) -> None:
    """Store look-alike records for templates stored before migration 0011, so gates load faster.

    Safe while gates and enrollment run; a second run changes nothing.
    """
    with cli_errors(), open_runtime(StorageSettings()) as runtime:
        with progress_bars() as progress:
            task = progress.add_task("look-alike records", total=None)
            result = backfill_lookalikes(
                runtime.engine,
                runtime.keyring,
                runtime.recognizer,
                batch_templates=batch_templates,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    console.print(
        f"{result.stored} look-alike records stored for {result.missing} templates without one "
        f"({runtime.recognizer.model_id})"
    )
