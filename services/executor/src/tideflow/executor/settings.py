"""Executor settings: which queues, how much concurrency, which user task modules."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.settings import (
    DatabaseSettings,
    EgressSettings,
    InfraSettings,
    KafkaSettings,
    KeySettings,
    LimitsSettings,
    ObservabilitySettings,
    OcrSettings,
    RedisSettings,
)


class GatewayAddress(BaseSettings):
    """Where this deployment's gateway listens (`TIDEFLOW_GATEWAY_HOST/PORT`), so the
    egress policy keeps worker nodes off it; the executor never calls it."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class ExecutorSettings(BaseSettings):
    """`TIDEFLOW_EXECUTOR_*`, plus the shared Kafka, egress and limits parts."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_EXECUTOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8082, ge=0, le=65535, description="/healthz, /readyz, /metrics")
    queues: list[str] = Field(default_factory=lambda: ["default"])
    concurrency: int = Field(default=64, ge=1, description="Steps run at once per process.")
    modules: list[str] = Field(
        default_factory=list, description="Python modules whose @task functions to load."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    ocr: OcrSettings = Field(
        default_factory=OcrSettings,
        description="The S3 buckets the worker's AWS credentials read for `ocr` nodes.",
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    keys: KeySettings = Field(
        default_factory=KeySettings,
        description="The key provider (`TIDEFLOW_SECURITY_*`) shared with the gateway.",
    )
    redis: RedisSettings = Field(default_factory=RedisSettings)
    gateway: GatewayAddress = Field(default_factory=GatewayAddress)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    def listeners(self) -> list[str]:
        """This deployment's own listeners, which worker nodes may never call (with the
        local development infrastructure's, `tide infra up`, which runs on loopback)."""
        infra = InfraSettings()
        return [
            self.database.url,
            self.redis.url,
            *self.kafka.bootstrap.split(","),
            f"{self.gateway.host}:{self.gateway.port}",
            f"{self.host}:{self.port}",
            *(
                f"127.0.0.1:{port}"
                for port in (
                    infra.kafka_port,
                    infra.kafka_controller_port,
                    infra.postgres_port,
                    infra.redis_port,
                )
            ),
        ]
