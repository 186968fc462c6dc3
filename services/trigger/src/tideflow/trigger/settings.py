"""Trigger service settings: where it listens, how often cron looks, and what it talks to."""

from datetime import timedelta
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.settings import (
    DatabaseSettings,
    Duration,
    EgressSettings,
    KafkaSettings,
    KeySettings,
    LimitsSettings,
    ObservabilitySettings,
    RateLimitSettings,
    RedisSettings,
)


class TriggerSettings(BaseSettings):
    """`TIDEFLOW_TRIGGER_*`, plus the shared database and Kafka parts."""

    model_config = SettingsConfigDict(
        env_prefix="TIDEFLOW_TRIGGER_", extra="ignore", validate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(
        default=8084, ge=0, le=65535, description="Hooks, trigger API, /healthz, /metrics."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIDEFLOW_ADMIN_TOKEN", "TIDEFLOW_TRIGGER_ADMIN_TOKEN"),
        description="When set, a bearer token with the admin role in the default tenant.",
    )
    cron_poll: Duration = Field(
        default=timedelta(seconds=1), description="How often due cron ticks are looked for."
    )
    cron_batch: int = Field(default=100, ge=1, description="Cron triggers claimed per look.")
    signature_tolerance: Duration = Field(
        default=timedelta(minutes=5),
        description="How far a webhook's signed timestamp may be from now.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Largest webhook or event body accepted."
    )
    event_refresh: Duration = Field(
        default=timedelta(seconds=2),
        description="How often the set of subscribed topics is compared with the triggers.",
    )
    event_offset_reset: Literal["latest", "earliest"] = Field(
        default="earliest",
        description="Where a topic subscribed for the first time is read from: its beginning "
        "(nothing published before the subscription is missed) or its end (`latest`: skip "
        "the history). Later starts resume at the committed offset.",
    )
    event_group: str = Field(
        default="tideflow-trigger", description="Consumer group of event-trigger subscribers."
    )
    deferred_poll: Duration = Field(
        default=timedelta(seconds=1),
        description="How often event-trigger starts deferred by their tenant's run-start "
        "limit are looked at (and sent as the tenant's bucket allows).",
    )
    outbox_claim: Duration = Field(
        default=timedelta(seconds=30),
        description="How long a start's outbox row is left to this process to publish.",
    )
    deliveries: bool = Field(
        default=True, description="Run the outbound webhook dispatcher (docs/webhooks.md)."
    )
    delivery_poll: Duration = Field(
        default=timedelta(seconds=1),
        description="How often new events and due deliveries are looked for.",
    )
    delivery_concurrency: int = Field(default=16, ge=1, description="Deliveries sent at once.")
    delivery_timeout: Duration = Field(
        default=timedelta(seconds=10), description="How long a subscriber may take to answer."
    )
    delivery_lease: Duration = Field(
        default=timedelta(seconds=60),
        description="How long a claimed delivery is left to this process before another "
        "dispatcher may send it again (must exceed the timeout).",
    )
    delivery_initial_backoff: Duration = Field(
        default=timedelta(seconds=10), description="Wait before the second attempt (doubles)."
    )
    delivery_max_backoff: Duration = Field(
        default=timedelta(hours=1), description="Longest wait between attempts."
    )
    delivery_retry_for: Duration = Field(
        default=timedelta(days=1),
        description="How long a delivery is retried before it is given up and its "
        "subscription flagged.",
    )
    egress: EgressSettings = Field(default_factory=EgressSettings)
    limits: LimitsSettings = Field(
        default_factory=LimitsSettings,
        description="What a run input from a webhook or event may be (`TIDEFLOW_LIMITS_*`, "
        "shared with the gateway).",
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
