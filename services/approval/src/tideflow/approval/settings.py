"""Approval service settings: where it listens, who is admin, and the systems it talks to."""

from datetime import timedelta

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.settings import (
    DatabaseSettings,
    Duration,
    KafkaSettings,
    KeySettings,
    ObservabilitySettings,
    RateLimitSettings,
    RedisSettings,
)


class ApprovalSettings(BaseSettings):
    """`TIDEFLOW_APPROVAL_*`, plus the shared database and Kafka parts."""

    model_config = SettingsConfigDict(
        env_prefix="TIDEFLOW_APPROVAL_", extra="ignore", validate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8083, ge=0, le=65535, description="The API, /healthz, /metrics.")
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIDEFLOW_ADMIN_TOKEN", "TIDEFLOW_APPROVAL_ADMIN_TOKEN"),
        description="When set, a bearer token with the admin role in the default tenant.",
    )
    page_size_max: int = Field(default=500, ge=1)
    events_batch: int = Field(
        default=500, ge=1, description="Run events read from the event stream per batch."
    )
    inbox_retry_delay: Duration = Field(
        default=timedelta(milliseconds=200),
        description="First wait before a failed inbox batch is read again (doubling to 30 s).",
    )
    inbox_max_attempts: int = Field(
        default=8,
        ge=1,
        description="Failures of an inbox batch (other than outages) before it is written "
        "event by event, and of one event before it goes to the dead-letter topic.",
    )
    outbox_claim: Duration = Field(
        default=timedelta(seconds=30),
        description="How long a decision's outbox row is left to this process to publish.",
    )
    retention: Duration = Field(
        default=timedelta(days=90),
        description="Closed approvals (decided, expired, cancelled) older than this are removed.",
    )
    retention_every: Duration = Field(
        default=timedelta(hours=1), description="How often old closed approvals are removed."
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    keys: KeySettings = Field(
        default_factory=KeySettings,
        description="The key provider (`TIDEFLOW_SECURITY_*`) shared with the gateway.",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    rate_limits: RateLimitSettings = Field(
        default_factory=RateLimitSettings,
        description="The tenants' rate limits (`TIDEFLOW_SECURITY_*`) shared with the gateway.",
    )
    redis: RedisSettings = Field(
        default_factory=RedisSettings, description="Where the rate-limit buckets live."
    )
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
