"""Gateway settings: where it listens, who is admin, and the systems it talks to."""

from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.auth import REUSE_GRACE
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


class SecuritySettings(KeySettings, RateLimitSettings):
    """`TIDEFLOW_SECURITY_*`: the key provider, token lifetimes and rate limiting."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_SECURITY_", extra="ignore")

    access_token_ttl: Duration = Field(
        default=timedelta(minutes=15), description="Lifetime of JWT access tokens."
    )
    refresh_token_ttl: Duration = Field(
        default=timedelta(days=7), description="Lifetime of refresh tokens."
    )
    refresh_reuse_grace: Duration = Field(
        default=REUSE_GRACE,
        ge=timedelta(0),
        le=timedelta(minutes=1),
        description="How long a used refresh token, presented again, still gets the same "
        "successor back (a page reloaded while its refresh was in flight) instead of "
        "revoking its whole family as a theft; 0 turns the grace off.",
    )
    signing_key_rotation: Duration = Field(
        default=timedelta(days=1), description="How often the JWT signing key is replaced."
    )


class GatewaySettings(BaseSettings):
    """`TIDEFLOW_GATEWAY_*`, plus the shared database, Kafka and Redis parts."""

    model_config = SettingsConfigDict(
        env_prefix="TIDEFLOW_GATEWAY_", extra="ignore", validate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIDEFLOW_ADMIN_TOKEN", "TIDEFLOW_GATEWAY_ADMIN_TOKEN"),
        description="When set, a bearer token with the admin role in the default tenant.",
    )
    page_size_max: int = Field(default=500, ge=1)
    stream_poll_interval: Duration = Field(
        default=timedelta(milliseconds=250),
        description="How often live event and log streams look for new rows.",
    )
    outbox_claim: Duration = Field(
        default=timedelta(seconds=30),
        gt=timedelta(0),
        description="How long the scheduler's outbox relay leaves a committed StartRun to "
        "the gateway that committed it; after that (the gateway died before its publish) "
        "the relay sends it.",
    )
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    ui_dir: Path | None = Field(
        default=None,
        description="The built web app to serve under /ui/ (default: the one "
        "`scripts/install.sh` builds into the gateway package).",
    )
    trigger_url: str | None = Field(
        default=None,
        description="The trigger service (e.g. `http://trigger:8084`): the gateway forwards "
        "the trigger management routes (`/workflows/{id}/triggers...`) to it, which an "
        "ingress cannot split off `/workflows`. Unset: not forwarded (`tide dev` serves "
        "them itself).",
    )
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    egress: EgressSettings = Field(
        default_factory=EgressSettings,
        description="`TIDEFLOW_EGRESS_*`, read for the publish policy: a definition whose "
        "ocr node names an `endpointUrl` the workers would refuse is refused when saved.",
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
