"""Scheduler settings: batching, snapshots, timers, and the systems it talks to."""

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tideflow.settings import (
    DatabaseSettings,
    Duration,
    KafkaSettings,
    LimitsSettings,
    ObservabilitySettings,
)


class SchedulerSettings(BaseSettings):
    """`TIDEFLOW_SCHEDULER_*`, plus the shared database and Kafka parts."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_SCHEDULER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535, description="/healthz, /readyz, /metrics")
    batch_max: int = Field(default=500, ge=1, description="Commands decided per transaction.")
    snapshot_every: int = Field(default=100, ge=1, description="Events between snapshots.")
    timer_poll: Duration = Field(default=timedelta(milliseconds=200))
    events_poll: Duration = Field(
        default=timedelta(milliseconds=100),
        description="How often the public event publisher looks for events other replicas "
        "wrote (this replica's commits wake it at once).",
    )
    events_batch: int = Field(
        default=500, ge=1, description="Events read and published per publisher batch."
    )
    retention: Duration = Field(
        default=timedelta(days=90), description="Finished runs older than this are removed."
    )
    retention_every: Duration = Field(
        default=timedelta(hours=1), description="How often the retention purge runs."
    )
    backlog_every: Duration = Field(
        default=timedelta(seconds=10),
        description="How often the outbox, timer and run backlog gauges are sampled.",
    )
    idle_after: Duration = Field(
        default=timedelta(hours=1),
        description="An unfinished run unchanged for longer counts in `tideflow_runs_idle`.",
    )
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
