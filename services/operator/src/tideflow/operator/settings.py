"""Operator settings: the gateway it reconciles with, the namespaces it watches, its pace."""

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tideflow.settings import Duration, KafkaSettings, ObservabilitySettings


class OperatorSettings(BaseSettings):
    """`TIDEFLOW_OPERATOR_*`, plus the shared Kafka part (for the task queues' lag)."""

    model_config = SettingsConfigDict(
        env_prefix="TIDEFLOW_OPERATOR_", extra="ignore", validate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8086, ge=0, le=65535, description="/healthz, /readyz, /metrics.")
    gateway_url: str = Field(
        default="http://127.0.0.1:8080", description="The gateway's REST API (Workflow sync)."
    )
    token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIDEFLOW_OPERATOR_TOKEN", "TIDEFLOW_ADMIN_TOKEN"),
        description="Bearer token for the gateway: an API token with the editor role in "
        "the tenant the Workflow resources belong to.",
    )
    gateway_timeout: Duration = Field(
        default=timedelta(seconds=10), description="Timeout of one gateway request."
    )
    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces whose resources are handled (comma-separated); empty: all.",
    )
    sync_interval: Duration = Field(
        default=timedelta(seconds=15),
        description="How often each WorkerPool's lag is read and its replicas decided.",
    )
    status_interval: Duration = Field(
        default=timedelta(seconds=60),
        description="How often each Workflow's last run is refreshed in its status.",
    )
    retry_delay: Duration = Field(
        default=timedelta(seconds=10),
        description="First delay before a failed reconcile is retried (doubles up to 5m).",
    )
    peering: str = Field(
        default="",
        description="Name of the KopfPeering object (a ClusterKopfPeering when every "
        "namespace is watched) through which replicas elect one active operator; empty: "
        "standalone, for a single replica.",
    )
    priority: int | None = Field(
        default=None,
        description="This replica's peering priority: the live replica with the highest "
        "is active, the others wait. Empty: a random one per start, so replicas never tie.",
    )
    peering_lifetime: Duration = Field(
        default=timedelta(seconds=60),
        description="How long a replica counts as alive after its last keep-alive: how "
        "soon a standby takes over from an active replica that died.",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @field_validator("namespaces", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
