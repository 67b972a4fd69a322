"""Storage settings: data directory, database URL and master key."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """Per-user data directory: $XDG_DATA_HOME/facegate, else ~/.local/share/facegate."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facegate"


class StorageSettings(BaseSettings):
    """Environment: FACEGATE_HOME, FACEGATE_DATABASE_URL, FACEGATE_MASTER_KEY, FACEGATE_KEY_FILE,
    FACEGATE_KMS_HOOK.

    These names are the product's documented interface, so they keep the short prefix.
    """

    model_config = SettingsConfigDict(env_prefix="FACEGATE_", extra="ignore")
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

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'facegate.db'}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.home / "master.key"
