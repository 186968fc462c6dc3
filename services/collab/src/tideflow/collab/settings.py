"""Collaboration service settings: where it listens, how rooms persist, how replicas meet."""

from datetime import timedelta
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.core import PublishPolicy
from tideflow.settings import (
    DatabaseSettings,
    Duration,
    EgressSettings,
    KeySettings,
    ObservabilitySettings,
    RateLimitSettings,
    RedisSettings,
)


class CollabSettings(BaseSettings):
    """`TIDEFLOW_COLLAB_*`, plus the shared database and Redis parts."""

    model_config = SettingsConfigDict(
        env_prefix="TIDEFLOW_COLLAB_", extra="ignore", validate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(
        default=8085, ge=0, le=65535, description="WebSocket rooms, the API, /healthz, /metrics."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIDEFLOW_ADMIN_TOKEN", "TIDEFLOW_COLLAB_ADMIN_TOKEN"),
        description="When set, a bearer token with the admin role in the default tenant.",
    )
    fanout: Literal["redis", "none"] = Field(
        default="redis",
        description="How replicas share rooms: Redis pub/sub, or none (a single replica).",
    )
    catch_up_every: Duration = Field(
        default=timedelta(seconds=5),
        description="How often an open room reads updates it missed from the log (a "
        "backstop for pub/sub messages lost while Redis was away).",
    )
    compact_every: Duration = Field(
        default=timedelta(seconds=60),
        description="How often an open room folds its update log into the snapshot.",
    )
    recheck_every: Duration = Field(
        default=timedelta(seconds=30),
        description="How often a connected client's credential is authenticated again "
        "(revoked, user deleted, disabled or given another role: the connection is closed); "
        "a JWT's connection is closed when the token expires.",
    )
    max_update_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest update a client may send."
    )
    egress: EgressSettings = Field(
        default_factory=EgressSettings,
        description="`TIDEFLOW_EGRESS_*`, read for the publish policy (as the gateway).",
    )
    topic_prefix: str = Field(
        default="tideflow",
        validation_alias=AliasChoices("TIDEFLOW_KAFKA_TOPIC_PREFIX"),
        description="`TIDEFLOW_KAFKA_TOPIC_PREFIX`, read for the publish policy only (no event "
        "trigger may read the platform's own topics), as the gateway reads it.",
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    rate_limits: RateLimitSettings = Field(
        default_factory=RateLimitSettings,
        description="`TIDEFLOW_SECURITY_RATE_LIMITER`: where the per-username bucket of HTTP "
        "Basic password guesses lives, shared with the gateway's `POST /auth/login`; unset, "
        "it follows `fanout` (see `password_limiter`).",
    )
    keys: KeySettings = Field(
        default_factory=KeySettings,
        description="The key provider (`TIDEFLOW_SECURITY_*`) shared with the gateway.",
    )
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @property
    def password_limiter(self) -> Literal["redis", "memory"]:
        """Where the password-guess buckets live: `TIDEFLOW_SECURITY_RATE_LIMITER` when it
        is set; otherwise Redis when the replicas meet there (`fanout: redis`), and this
        process when there is no Redis to use (`fanout: none`, one replica): a standalone
        collab without Redis starts and answers HTTP Basic without more settings."""
        if "rate_limiter" in self.rate_limits.model_fields_set:
            return self.rate_limits.rate_limiter
        return "redis" if self.fanout == "redis" else "memory"

    @property
    def publish_policy(self) -> PublishPolicy:
        """What the operator's settings refuse in a published definition: the gateway's
        policy, read from the same settings (`TIDEFLOW_EGRESS_*`, the topic prefix)."""
        return PublishPolicy(
            tuple(self.egress.aws_endpoint_hosts),
            self.egress.aws_endpoint_allowed,
            topic_prefix=self.topic_prefix,
        )
