"""Where `tide infra` runs the development Kafka, Postgres and Redis.

Default ports sit away from the standard ones (9092, 5432, 6379) so a system service on
the same machine never collides with them.
"""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InfraSettings(BaseSettings):
    """Ports, versions and folders of the project-local infrastructure."""

    model_config = SettingsConfigDict(env_prefix="TIDEFLOW_INFRA_", extra="ignore")

    home: Path = Field(
        default=Path(".tideflow/infra"),
        description="Project-local folder for data, logs and PID files (git-ignored).",
    )
    cache: Path = Field(
        default=Path(".tideflow/cache"),
        description="Downloaded artifacts (Kafka jars); kept across `tide infra down`.",
    )
    kafka_version: str = "4.1.0"
    log4j_version: str = "2.24.3"
    kafka_port: int = Field(default=19092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=19093, ge=1, le=65535)
    kafka_heap: str = "1g"
    postgres_port: int = Field(default=15432, ge=1, le=65535)
    postgres_user: str = "tideflow"
    postgres_database: str = "tideflow"
    redis_port: int = Field(default=16379, ge=1, le=65535)
    start_timeout_s: float = Field(default=90.0, gt=0)
