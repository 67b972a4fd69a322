"""HTTP API settings: where the server listens and how much it accepts."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
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
    identify_fpir_target: float | None = Field(
        1e-3,
        gt=0.0,
        lt=1.0,
        description="FPIR target /identify sets its threshold for at the current gallery size, by the gate's "
        "policy (same default as FACEGATE_GATE_DECISION__FPIR_TARGET); null: the model's default threshold.",
    )
    session_secret: SecretStr | None = Field(
        None,
        description=(
            "Key that signs the web console's session cookies (at least 32 characters); unset: a random "
            "key per process, so sessions end when the server restarts. Set it when running several workers."
        ),
    )
    session_lifetime_s: int = Field(
        8 * 3600, gt=0, le=7 * 24 * 3600, description="How long a console sign-in lasts, in seconds."
    )
    gate_health_urls: list[AnyHttpUrl] = Field(
        default_factory=list,
        description="Each running gate's /healthz URL (JSON list); the console's System page shows them.",
    )
    gate_health_timeout_s: float = Field(
        2.0, gt=0.0, le=30.0, description="How long the System page waits for one gate's /healthz."
    )
    auth_max_failures: int = Field(
        10,
        ge=1,
        description=(
            "Failed authentications one client address may make per window; further failures get 429, "
            "a valid key is still served (counted where auth_failure_storage says)."
        ),
    )
    auth_failure_window_s: int = Field(
        60, ge=1, le=86_400, description="Length of the moving window failed authentications are counted in."
    )
    auth_failure_storage: str = Field(
        "memory://",
        pattern=r"^(memory://|database|rediss?://\S+)$",
        description="Where failed authentications are counted: memory:// (in each server process, so N "
        "workers allow N times the limit), database (the failures audited in the database: shared by every "
        "worker and server on it, one more indexed query per failure) or redis://HOST:PORT/DB (shared by "
        "every worker and server using that Redis; needs the `redis` extra). While Redis is down, keys are "
        "checked without the limit.",
    )
    idempotency_retention_s: int = Field(
        24 * 3600,
        ge=60,
        le=30 * 24 * 3600,
        description="How long the answer to a request sent with an Idempotency-Key is kept and replayed "
        "to a retry with the same key; older ones go with the next keyed request, and at the "
        "latest with `facegate serve`'s purge, at start and then every min(retention, 1 h).",
    )

    gallery_feed: Literal["listen", "poll"] = Field(
        "listen",
        description="How waiting device syncs learn of a gallery change: PostgreSQL LISTEN/NOTIFY, or "
        "re-reading the version every gallery_feed_poll_s (also the fallback on SQLite or without NOTIFY).",
    )
    gallery_feed_poll_s: float = Field(
        1.0, gt=0.0, le=60.0, description="Version re-read interval of the polling fallback, in seconds."
    )

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("the session secret needs at least 32 characters")
        return value
