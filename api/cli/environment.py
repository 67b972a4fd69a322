"""`FACEGATE_*` variables that no settings class reads: a typo stops every command with its name.

Each settings class reads only the variables of its own fields: pydantic-settings passes over any other
variable under its prefix, so `FACEGATE_API_PROT` or `FACEGATE_GATE_DECISON__COOLDOWN_S` was ignored
and the default ran instead. StorageSettings refuses unknown short names (`FACEGATE_DATABSE_URL`) but
leaves the packages' prefixes to them; the CLI, which builds them all, checks them here.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping

from pydantic import BaseModel
from pydantic_settings import BaseSettings

from api.settings import ApiSettings
from enrollment import EnrollmentSettings
from gate import GATE_PROCESS_SETTINGS
from storage import models_in
from storage import unread_variables as unread_by

__all__ = ["SETTINGS_CLASSES", "unread_variables", "variable_keys"]

SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    *GATE_PROCESS_SETTINGS,
    EnrollmentSettings,
    ApiSettings,
)
"""Every settings class a `facegate` command or the gate it starts reads."""


def unread_variables(environ: Mapping[str, str]) -> list[str]:
    """The `FACEGATE_*` names in `environ` that no settings class reads, sorted (the test suite's aside)."""
    return unread_by(environ, SETTINGS_CLASSES)


def variable_keys(settings: type[BaseSettings], keys: list[str]) -> list[str]:
    """The keys of a validation error's location as the variable's name joins them.

    A section that is a union discriminated on `kind` puts the kind's tag in the location (`door`, `mqtt`,
    `topic`), which is no part of the variable (`FACEGATE_GATE_DOOR__TOPIC`): it is left out. A key no model
    has (an unknown one, refused as extra) is kept as given.
    """
    models: list[type[BaseModel]] = [settings]
    kept: list[str] = []
    for key in keys:
        fields = [model.model_fields[key] for model in models if key in model.model_fields]
        tagged = [model for model in models if _kind_tag(model) == key]
        if not fields and tagged:
            models = tagged
            continue
        kept.append(key)
        models = [found for field in fields for found in models_in(field.annotation)]
    return kept


def _kind_tag(model: type[BaseModel]) -> str | None:
    kind = model.model_fields.get("kind")
    tags = typing.get_args(kind.annotation) if kind is not None else ()
    return tags[0] if len(tags) == 1 and isinstance(tags[0], str) else None
