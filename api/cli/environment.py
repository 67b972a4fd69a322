"""`FACEGATE_*` variables that no settings class reads: a typo stops every command with its name.

Each settings class reads only the variables of its own fields: pydantic-settings passes over any other
variable under its prefix, so `FACEGATE_API_PROT` or `FACEGATE_GATE_DECISON__COOLDOWN_S` was ignored
and the default ran instead. StorageSettings refuses unknown short names (`FACEGATE_DATABSE_URL`) but
leaves the packages' prefixes to them; the CLI, which builds them all, checks them here.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from api.settings import ApiSettings
from enrollment import EnrollmentSettings
from gate import DaemonSettings, GateSettings
from recognition import RecognitionSettings
from storage import StorageSettings

__all__ = ["SETTINGS_CLASSES", "read_variables", "unread_variables", "variable_keys"]

SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    StorageSettings,
    RecognitionSettings,
    EnrollmentSettings,
    GateSettings,
    DaemonSettings,
    ApiSettings,
)
"""Every settings class a `facegate` command or the gate it starts reads."""
TEST_PREFIX = "FACEGATE_TEST_"
"""The test suite's own variables (`FACEGATE_TEST_DATABASE_URL`), which no product setting reads."""


def read_variables(settings: type[BaseSettings]) -> tuple[set[str], set[str]]:
    """The variable names `settings` reads, upper case: whole names, and prefixes of nested keys.

    A field with a validation alias is read under its alias only (`FACEGATE_DATA_DIR`), with no prefix; a
    field holding a model is also read key by key (`FACEGATE_GATE_DOOR__` + any key, which the nested
    model itself refuses when it does not know it).
    """
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    delimiter = settings.model_config.get("env_nested_delimiter")
    names: set[str] = set()
    nested: set[str] = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            field_names = [choice.upper() for choice in alias.choices if isinstance(choice, str)]
        elif isinstance(alias, str):
            field_names = [alias.upper()]
        else:
            field_names = [prefix + field_name.upper()]
        names.update(field_names)
        if delimiter and _holds_a_model(field):
            nested.update(name + delimiter.upper() for name in field_names)
    return names, nested


def unread_variables(
    environ: Mapping[str, str], classes: Iterable[type[BaseSettings]] = SETTINGS_CLASSES
) -> list[str]:
    """The `FACEGATE_*` names in `environ` that none of `classes` reads, sorted (the test suite's aside)."""
    names: set[str] = set()
    nested: set[str] = set()
    for settings in classes:
        own, own_nested = read_variables(settings)
        names |= own
        nested |= own_nested
    return sorted(
        name
        for name in environ
        if name.upper().startswith("FACEGATE_")
        and not name.upper().startswith(TEST_PREFIX)
        and name.upper() not in names
        and not name.upper().startswith(tuple(nested))
    )


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
        models = [found for field in fields for found in _models_in(field.annotation)]
    return kept


def _holds_a_model(field: FieldInfo) -> bool:
    return bool(_models_in(field.annotation))


def _models_in(annotation: object) -> list[type[BaseModel]]:
    pending: list[object] = [annotation]
    models: list[type[BaseModel]] = []
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            models.append(current)
        else:
            pending.extend(typing.get_args(current))
    return models


def _kind_tag(model: type[BaseModel]) -> str | None:
    kind = model.model_fields.get("kind")
    tags = typing.get_args(kind.annotation) if kind is not None else ()
    return tags[0] if len(tags) == 1 and isinstance(tags[0], str) else None
