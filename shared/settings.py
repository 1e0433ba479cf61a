"""Every setting of the service, read once from the environment and passed down."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values people paste from examples; local mode refuses to start with them.
PLACEHOLDER_TOKENS = frozenset(
    {"change-me", "changeme", "replace-me", "replace-with-strong-random-token"}
)
MIN_LOCAL_TOKEN_LENGTH = 50

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A limit of `requests` per `window_seconds` for one client."""

    requests: int
    window_seconds: float

    @classmethod
    def parse(cls, raw: str) -> RateLimit:
        """Parse `requests/window_seconds`, e.g. `60/60`."""
        count, sep, window = raw.strip().partition("/")
        if not sep:
            raise ValueError("expected '<requests>/<window seconds>', e.g. 60/60")
        try:
            limit = cls(int(count), float(window))
        except ValueError:
            raise ValueError("expected '<requests>/<window seconds>', e.g. 60/60") from None
        if limit.requests < 1 or limit.window_seconds <= 0:
            raise ValueError("requests must be >= 1 and the window > 0 seconds")
        return limit


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """The service's configuration; field names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, frozen=True)

    database_url: str | None = None
    rq_redis_url: str = "redis://localhost:6379/0"
    base_url: str | None = None

    auth_mode: Literal["local", "clerk"] | None = None
    local_auth_token: str | None = Field(default=None, repr=False)
    clerk_jwks_url: str | None = None
    clerk_issuer: str | None = None
    clerk_leeway_seconds: int = Field(default=30, ge=0, le=300)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(default_factory=list)

    webhook_max_payload_bytes: int = Field(default=1_048_576, ge=1, le=64 * 1_048_576)
    rate_limit_backend: Literal["memory", "redis"] = "memory"
    rate_limit_redis_url: str | None = None
    webhook_rate_limit: Annotated[RateLimit, NoDecode] = RateLimit(60, 60)
    agent_auth_rate_limit: Annotated[RateLimit, NoDecode] = RateLimit(20, 60)
    webhook_dedup_ttl_seconds: int = Field(default=86_400, ge=1)

    request_log_slow_ms: int = Field(default=1000, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    log_health_requests: bool = False

    security_header_x_content_type_options: str = "nosniff"
    security_header_x_frame_options: str = "DENY"
    security_header_referrer_policy: str = "strict-origin-when-cross-origin"
    security_header_permissions_policy: str = ""

    # Internal tuning; defaults suit production, tests shorten them.
    redis_namespace: str = Field(default="mc", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    webhook_config_refresh_seconds: float = Field(default=1.0, gt=0, le=5)
    redis_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    ingress_read_timeout_seconds: float = Field(default=30.0, gt=0)

    # Agent auth: credential-change polling, memory of verified tokens, last-seen writes.
    agent_auth_refresh_seconds: float = Field(default=1.0, gt=0, le=3)
    agent_token_memory_seconds: float = Field(default=60.0, ge=0, le=3600)
    agent_last_seen_interval_seconds: float = Field(default=30.0, gt=0)
    agent_auth_threads: int = Field(default=2, ge=1, le=64)
    # Rendered task-list pages: dropped on any task change, never older than this (0 = off).
    task_list_cache_seconds: float = Field(default=1.0, ge=0, le=1)
    clerk_jwks_min_refresh_seconds: float = Field(default=10.0, ge=0, le=3600)

    worker_metrics_port: int = Field(default=9100, ge=0, le=65535)
    worker_max_tries: int = Field(default=8, ge=1, le=100)
    worker_retry_base_seconds: float = Field(default=1.0, gt=0)
    worker_retry_max_seconds: float = Field(default=300.0, gt=0)
    worker_job_timeout_seconds: int = Field(default=30, ge=1, le=300)
    worker_max_jobs: int = Field(default=500, ge=1, le=10_000)
    worker_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Bulk replay: deliveries per page/enqueue round trip, and how far apart batches fall due.
    replay_batch_size: int = Field(default=500, ge=1, le=10_000)
    replay_batch_interval_ms: int = Field(default=500, ge=0, le=60_000)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        parts = _split_csv(value)
        if isinstance(parts, list):
            return [ipaddress.ip_network(str(p), strict=False) for p in parts]
        return parts

    @field_validator("webhook_rate_limit", "agent_auth_rate_limit", mode="before")
    @classmethod
    def _parse_rate_limit(cls, value: object) -> object:
        return RateLimit.parse(value) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _check_auth(self) -> Settings:
        if self.auth_mode == "local":
            token = self.local_auth_token or ""
            if token.strip().lower() in PLACEHOLDER_TOKENS:
                raise ValueError("LOCAL_AUTH_TOKEN is a placeholder; generate a random token")
            if len(token) < MIN_LOCAL_TOKEN_LENGTH:
                raise ValueError(
                    f"LOCAL_AUTH_TOKEN must be at least {MIN_LOCAL_TOKEN_LENGTH} characters"
                )
        if self.auth_mode == "clerk" and not self.clerk_jwks_url:
            raise ValueError("CLERK_JWKS_URL is required when AUTH_MODE=clerk")
        if self.worker_retry_max_seconds < self.worker_retry_base_seconds:
            raise ValueError("WORKER_RETRY_MAX_SECONDS must be >= WORKER_RETRY_BASE_SECONDS")
        return self

    @property
    def effective_rate_limit_redis_url(self) -> str:
        """The rate limiter's Redis: its own URL, else the queue's."""
        return self.rate_limit_redis_url or self.rq_redis_url

    @property
    def queue_name(self) -> str:
        """The arq queue this deployment's ingress and workers share."""
        return f"{self.redis_namespace}:queue"


class SettingsError(Exception):
    """Configuration is invalid; `str(error)` is one line naming the variable."""


def describe_validation_error(error: ValidationError) -> str:
    """Turn pydantic's report into one line that names the environment variable."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]).upper()
    message = first["msg"].removeprefix("Value error, ")
    if location:
        value = first.get("input")
        shown = "" if "TOKEN" in location or isinstance(value, dict) else f" (got {value!r})"
        return f"invalid setting {location}: {message}{shown}"
    return f"invalid settings: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and `.env`), raising SettingsError on a bad value."""
    try:
        return Settings(_env_file=".env", **overrides)  # type: ignore[call-arg]
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None
    except ValueError as error:  # a list/tuple field that fails before validation
        raise SettingsError(f"invalid settings: {error}") from None
