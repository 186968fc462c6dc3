"""Executor settings: which queues, how much concurrency, which user task modules."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.settings import KafkaSettings, ObservabilitySettings


class ExecutorSettings(BaseSettings):
    """`TIDEFLOW_EXECUTOR_*`, plus the shared Kafka part."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_EXECUTOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8082, ge=0, le=65535, description="/healthz, /readyz, /metrics")
    queues: list[str] = Field(default_factory=lambda: ["default"])
    concurrency: int = Field(default=64, ge=1, description="Steps run at once per process.")
    modules: list[str] = Field(
        default_factory=list, description="Python modules whose @task functions to load."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
