"""Validation errors as the one line a CLI command prints (E3), and the root group that prints them.

A pydantic `ValidationError` printed as it is spans several lines (with the rejected input, which may be a
secret, and a link); a settings error from pydantic-settings at command start escaped the commands that build
their settings outside `cli_errors` as a traceback. Here each problem becomes `field: message`, with the
validator's own message, and a setting's field is named by its environment variable.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsError
from typer.core import TyperGroup

from api.cli.consoles import err_console
from api.cli.environment import variable_keys

__all__ = ["OneLineErrorsGroup", "print_error_line", "validation_line"]

_PREFIXES = ("Value error, ", "Assertion failed, ")


def validation_line(exc: ValidationError) -> str:
    """Every problem of `exc` as `field: message`, joined by `; `.

    The field is the environment variable for a settings class (`FACEGATE_API_PORT`), otherwise the model's
    noun and the field's dotted path (`door name` for `DoorCreate.name`, `door rule` for a model validator);
    a settings validator's message, which names its variables, stands alone.
    """
    settings = _settings_class(exc.title)
    problems = []
    for error in exc.errors():
        field = _field(exc.title, settings, error)
        problems.append(f"{field}: {_message(error)}" if field else _message(error))
    return "; ".join(problems)


def print_error_line(line: str) -> None:
    """`line` on stderr as one line, with no markup read into it.

    A message with line breaks of its own (psycopg's for a refused connection adds a tab-indented hint)
    has its lines joined by `; `, so a log reader or a script reading stderr sees the whole error.
    """
    parts = (part.strip() for part in line.splitlines())
    err_console.print("; ".join(part for part in parts if part), markup=False, highlight=False)


class OneLineErrorsGroup(TyperGroup):
    """The root command group: a validation or settings error no command caught is one line and exit 1."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a `ValidationError` or `SettingsError` escaping it becomes one line on stderr."""
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            line = validation_line(exc)
        except SettingsError as exc:  # a value that is not JSON where a list or a model is expected
            line = str(exc) if exc.__cause__ is None else f"{exc}: {exc.__cause__}"
        print_error_line(f"error: {line}")
        raise typer.Exit(1)


def _settings_class(title: str) -> type[BaseSettings] | None:
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == title and cls is not BaseSettings:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def _field(title: str, settings: type[BaseSettings] | None, error: ErrorDetails) -> str:
    if settings is not None:
        return _variable(settings, error["loc"])
    parts = ".".join(str(part) for part in error["loc"])
    noun = " ".join(re.findall(r"[A-Z][a-z0-9]*", title.removesuffix("Create"))).lower() or title
    return f"{noun} {parts}" if parts else noun


def _variable(settings: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    """`FACEGATE_GATE_DECISION__VOTES_REQUIRED`, `FACEGATE_API_GATE_HEALTH_URLS[0]`,
    `FACEGATE_GATE_DOOR__TOPIC` (a section's kind left out); empty for the model."""
    if not loc:
        return ""
    if str(loc[0]).isupper():  # a validation alias, already the variable's name
        return str(loc[0])
    names = [str(part) for part in itertools.takewhile(lambda part: isinstance(part, str), loc)]
    delimiter = settings.model_config.get("env_nested_delimiter") or "__"
    keys = variable_keys(settings, names)
    variable = (settings.model_config.get("env_prefix", "") + delimiter.join(keys)).upper()
    rest = loc[len(names) :]
    return variable + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in rest)


def _message(error: ErrorDetails) -> str:
    message = error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return " ".join(message.split())
