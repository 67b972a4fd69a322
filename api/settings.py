"""HTTP API settings: where the server listens and how much it accepts."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Environment: FACEGATE_API_*, nested keys with `__`."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_API_", env_nested_delimiter="__", extra="forbid")
    host: str = Field("127.0.0.1", min_length=1, description="Interface the HTTP server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port the HTTP server listens on.")
    max_upload_bytes: int = Field(
        100_000_000,
        gt=0,
        description=(
            "Largest request body, in bytes, multipart overhead included; a larger request gets 413 "
            "before it is parsed. Each photo is also capped by the recognition image limit."
        ),
    )
    identify_top_k: int = Field(
        3, ge=1, le=50, description="Enrolled people listed as candidates for each face found by /identify."
    )
