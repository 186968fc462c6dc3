"""Sub-settings for the systems a service talks to."""

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.settings._duration import Duration


class DatabaseSettings(BaseSettings):
    """Postgres: the event log and every projection live here."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_DATABASE_", extra="ignore")

    url: str = Field(
        default="postgresql://tideflow@127.0.0.1:15432/tideflow",
        description="libpq URL of the Tideflow database.",
    )
    pool_min_size: int = Field(default=2, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    statement_timeout: Duration = Field(default=timedelta(seconds=30))


class KafkaSettings(BaseSettings):
    """Kafka: commands, tasks and public events travel over it."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_KAFKA_", extra="ignore")

    bootstrap: str = Field(
        default="127.0.0.1:19092", description="Comma-separated host:port list of brokers."
    )
    topic_prefix: str = Field(default="tideflow", description="Prefix of every Tideflow topic.")
    partitions: int = Field(default=8, ge=1, description="Partitions of topics Tideflow creates.")
    replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replicas of each topic Tideflow creates (1 for one broker; 3 in production).",
    )
    fetch_max_wait: Duration = Field(
        default=timedelta(milliseconds=100),
        description="Longest a consumer's fetch waits at the broker when nothing is there "
        "(a record arriving ends the wait at once). Longer: fewer empty fetches, less broker "
        "CPU when idle; a rewind or a new assignment waits for the fetch in flight.",
    )


class KeySettings(BaseSettings):
    """`TIDEFLOW_SECURITY_*` key provider: what seals secrets and JWT signing keys.

    Every service that opens them (gateway, executor, approval, trigger) must see the same
    key provider: one KMS key, or one key file on a volume they share.
    """

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_SECURITY_", extra="ignore")

    key_file: Path = Field(
        default=Path(".tideflow/keys/kek.json"),
        description="Local key-encryption keys (created 0600 when missing); used unless "
        "`kms_key_id` is set. Fine for `tide dev` and one node; use KMS in production.",
    )
    kms_key_id: str | None = Field(
        default=None, description="AWS KMS key (id, ARN or alias) that wraps data keys."
    )
    kms_region: str = Field(default="us-east-1", description="AWS region of the KMS key.")
    kms_endpoint: str | None = Field(
        default=None, description="Another KMS endpoint (a local stand-in, a VPC endpoint)."
    )


class RateLimitSettings(BaseSettings):
    """`TIDEFLOW_SECURITY_*` rate limits: the tenants' default limits and where their
    buckets live. Every service that enforces them (gateway, approval, trigger) must see
    the same values and the same Redis, so a tenant has one budget across services."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_SECURITY_", extra="ignore")

    rate_limiter: Literal["redis", "memory"] = Field(
        default="redis",
        description="`redis`: token buckets shared by every replica of every service; "
        "`memory`: one process (`tide dev`).",
    )
    api_requests_per_second: float | None = Field(
        default=None, gt=0, description="Default API request limit per tenant (none: unlimited)."
    )
    run_starts_per_second: float | None = Field(
        default=None, gt=0, description="Default run-start limit per tenant (none: unlimited)."
    )


class RedisSettings(BaseSettings):
    """Redis: rate limits and short-lived caches; never the source of truth."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_REDIS_", extra="ignore")

    url: str = Field(default="redis://127.0.0.1:16379/0", description="Redis URL.")


class HttpSettings(BaseSettings):
    """Where a service's HTTP endpoints (API or /healthz and /metrics) listen."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_HTTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


EventLoopName = Literal["uvloop", "asyncio"]


class ObservabilitySettings(BaseSettings):
    """Logging, metrics and process knobs common to every service."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_", extra="ignore")

    log_level: str = Field(default="INFO", description="Root log level.")
    log_json: bool = Field(default=True, description="Structured JSON logs on stderr.")
    gc_thresholds: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        default=(10_000, 20, 20),
        description="Python's cyclic garbage collector thresholds (`gc.set_threshold`); "
        "Python's own (700, 10, 10) spent a third of a scheduler's CPU in collections.",
    )
    event_loop: EventLoopName = Field(
        default="uvloop",
        description="The event loop services run on: uvloop (libuv, in C) or the standard "
        "asyncio loop; the standard loop's machinery was a fifth to a third of a service's "
        "CPU.",
    )
