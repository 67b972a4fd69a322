"""Storage settings: data directory, database URL and master key."""

from __future__ import annotations

import os
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """Per-user data directory: $XDG_DATA_HOME/facegate, else ~/.local/share/facegate."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facegate"


OTHER_SETTINGS_PREFIXES = (
    "FACEGATE_API_",
    "FACEGATE_GATE_",
    "FACEGATE_RECOGNITION_",
    "FACEGATE_ENROLLMENT_",
    "FACEGATE_TEST_",
)
"""Prefixes of the other packages' settings (and the test suite's): not StorageSettings' to judge."""
OTHER_SETTINGS_NAMES = frozenset({"FACEGATE_DATA_DIR"})
"""Short-prefix names owned elsewhere: the shared data directory is RecognitionSettings.data_dir."""


def unknown_variables(environ: dict[str, str] | os._Environ[str], field_names: set[str]) -> list[str]:
    """FACEGATE_ variables no settings class reads: typos like FACEGATE_DATABSE_URL."""
    own = {f"FACEGATE_{name.upper()}" for name in field_names}
    return sorted(
        name
        for name in environ
        if name.upper().startswith("FACEGATE_")
        and name.upper() not in own | OTHER_SETTINGS_NAMES
        and not name.upper().startswith(OTHER_SETTINGS_PREFIXES)
    )


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
    environ: Mapping[str, str],
    classes: Iterable[type[BaseSettings]],
    *,
    within: tuple[str, ...] = ("FACEGATE_",),
) -> list[str]:
    """The names in `environ` under one of the prefixes `within` that none of `classes` reads, sorted.

    pydantic-settings passes over a variable under a class's prefix that names none of its fields, so a
    typo (`FACEGATE_API_PROT`) left the default in force without a word; the test suite's are left aside.
    """
    names: set[str] = set()
    nested: set[str] = set()
    for settings in classes:
        own, own_nested = read_variables(settings)
        names |= own
        nested |= own_nested
    return sorted(
        name
        for name in environ
        if name.upper().startswith(within)
        and not name.upper().startswith(TEST_PREFIX)
        and name.upper() not in names
        and not name.upper().startswith(tuple(nested))
    )


def models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation names, through unions, `Annotated` and generics."""
    pending: list[object] = [annotation]
    models: list[type[BaseModel]] = []
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            models.append(current)
        else:
            pending.extend(typing.get_args(current))
    return models


def _holds_a_model(field: FieldInfo) -> bool:
    return bool(models_in(field.annotation))


class StorageSettings(BaseSettings):
    """Environment: FACEGATE_HOME, FACEGATE_DATABASE_URL, FACEGATE_MASTER_KEY, FACEGATE_KEY_FILE,
    FACEGATE_KMS_HOOK, FACEGATE_DATABASE_POOL_SIZE, FACEGATE_DATABASE_MAX_OVERFLOW,
    FACEGATE_DATABASE_POOL_TIMEOUT_S, FACEGATE_DATABASE_CONNECT_TIMEOUT_S,
    FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S, FACEGATE_DATABASE_STATEMENT_TIMEOUT_S.

    These names are the product's documented interface, so they keep the short prefix. Like the other
    settings classes it refuses what it does not know: any other FACEGATE_ variable that is not under
    another package's prefix is a typo and fails validation.
    """

    model_config = SettingsConfigDict(env_prefix="FACEGATE_", extra="forbid")
    home: Path = Field(
        default_factory=default_home, description="Data directory: database, key file, caches."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to a SQLite file in the data directory."
    )
    master_key: SecretStr | None = Field(
        None, description="Base64 (URL-safe) of 32 random bytes; overrides the key file."
    )
    key_file: Path | None = Field(None, description="Master key file; defaults to <home>/master.key.")
    kms_hook: str | None = Field(
        None,
        description="'package.module:factory' returning a Cipher backed by a KMS; overrides both keys above.",
    )
    database_pool_size: int = Field(
        5, ge=1, description="Connections each process keeps open to the database (SQLAlchemy's pool_size)."
    )
    database_max_overflow: int = Field(
        10, ge=0, description="More connections a process may open when the pool is in use, closed after use."
    )
    database_pool_timeout_s: float = Field(
        30.0,
        gt=0.0,
        description="How long an operation waits for a free connection before it fails as the database "
        "unavailable (HTTP 503), rather than queueing without end.",
    )
    database_connect_timeout_s: int = Field(
        10,
        ge=2,
        le=600,
        description="How long opening a PostgreSQL connection may take before it fails as the database "
        "unavailable (HTTP 503), rather than psycopg's 130 s on a host that accepts TCP and never answers; "
        "libpq's connect_timeout (whole seconds, at least 2), which one in the database URL overrides.",
    )
    database_sqlite_busy_timeout_s: float = Field(
        30.0,
        ge=0.001,
        le=600.0,
        description="How long a SQLite write waits for the database's one write lock before it fails as the "
        "database unavailable (HTTP 503); PostgreSQL ignores it. SQLite retries a waiting writer at growing "
        "intervals (up to 100 ms) instead of queueing it, so a burst of writers that each hold the lock for "
        "milliseconds can keep one out for seconds. The default is the pool timeout's 30 s, not pysqlite's "
        "5 s: an access-control write that waits out a burst (an enrollment, a revocation, a gate's audit "
        "event) serves better than one that fails in it, and a writer stuck behind a real hang still fails. "
        "SQLite counts whole milliseconds.",
    )
    database_statement_timeout_s: int = Field(
        30,
        ge=1,
        le=3600,
        description="How long one PostgreSQL statement may run or wait for a lock another session holds "
        "before it is cancelled and fails as the database unavailable (HTTP 503), rather than a request or a "
        "gate's write waiting for as long as the lock is held; PostgreSQL's statement_timeout and "
        "lock_timeout (whole seconds). The schema upgrade, backup, restore, key rotation and full gallery "
        "loads are not cut for running long. `options=-c statement_timeout=...` (or lock_timeout) in the "
        "database URL overrides it.",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'facegate.db'}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.home / "master.key"

    @model_validator(mode="after")
    def _no_unknown_variables(self) -> StorageSettings:
        unknown = unknown_variables(os.environ, set(type(self).model_fields))
        if unknown:
            raise ValueError(f"unknown environment variable(s) {', '.join(unknown)} (a typo?)")
        return self
