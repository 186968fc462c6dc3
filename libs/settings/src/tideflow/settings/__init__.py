"""Settings shared by every Tideflow service: one sub-settings class per external system.

Each sub-settings class reads its own env prefix (``TIDEFLOW_DATABASE_*``,
``TIDEFLOW_KAFKA_*``, ``TIDEFLOW_REDIS_*``), so a service's settings are composed of the
parts it needs and every variable has exactly one name across the platform.
"""

from tideflow.settings._duration import Duration, parse_duration
from tideflow.settings._egress import EgressSettings
from tideflow.settings._hosts import host_allowed, host_matches
from tideflow.settings._infra import InfraSettings
from tideflow.settings._limits import LimitsSettings
from tideflow.settings._ocr import OcrSettings, s3_source_rule
from tideflow.settings._parts import (
    DatabaseSettings,
    EventLoopName,
    HttpSettings,
    KafkaSettings,
    KeySettings,
    ObservabilitySettings,
    RateLimitSettings,
    RedisSettings,
)

__all__ = [
    "DatabaseSettings",
    "Duration",
    "EgressSettings",
    "EventLoopName",
    "HttpSettings",
    "InfraSettings",
    "KafkaSettings",
    "KeySettings",
    "LimitsSettings",
    "ObservabilitySettings",
    "OcrSettings",
    "RateLimitSettings",
    "RedisSettings",
    "host_allowed",
    "host_matches",
    "parse_duration",
    "s3_source_rule",
]
