"""Every service reads the same TIDEFLOW_* names for the systems it shares."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tideflow.executor.settings import ExecutorSettings
from tideflow.gateway.settings import GatewaySettings
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.settings import (
    DatabaseSettings,
    InfraSettings,
    KafkaSettings,
    LimitsSettings,
    RedisSettings,
)

pytestmark = pytest.mark.unit


def test_shared_names_reach_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_DATABASE_URL", "postgresql://u@db:5432/x")
    monkeypatch.setenv("TIDEFLOW_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("TIDEFLOW_REDIS_URL", "redis://r:6379/1")
    gateway, scheduler, executor = GatewaySettings(), SchedulerSettings(), ExecutorSettings()
    assert gateway.database.url == scheduler.database.url == "postgresql://u@db:5432/x"
    assert gateway.kafka.bootstrap == executor.kafka.bootstrap == "k1:9092,k2:9092"
    assert gateway.redis.url == "redis://r:6379/1"


def test_service_prefixes_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_GATEWAY_PORT", "9000")
    monkeypatch.setenv("TIDEFLOW_ADMIN_TOKEN", "s3cret")
    monkeypatch.setenv("TIDEFLOW_SCHEDULER_EVENTS_POLL", "20ms")
    monkeypatch.setenv("TIDEFLOW_GATEWAY_STREAM_POLL_INTERVAL", "1m30s")
    monkeypatch.setenv("TIDEFLOW_SCHEDULER_TIMER_POLL", "0.5")
    monkeypatch.setenv("TIDEFLOW_EXECUTOR_QUEUES", '["default", "gpu"]')
    gateway = GatewaySettings()
    assert gateway.port == 9000
    assert gateway.admin_token is not None
    assert gateway.admin_token.get_secret_value() == "s3cret"
    scheduler = SchedulerSettings()
    assert scheduler.events_poll == timedelta(milliseconds=20)
    assert gateway.stream_poll_interval == timedelta(seconds=90)
    assert scheduler.timer_poll == timedelta(milliseconds=500)
    assert ExecutorSettings().queues == ["default", "gpu"]


def test_defaults_avoid_standard_ports() -> None:
    infra = InfraSettings()
    assert {infra.kafka_port, infra.postgres_port, infra.redis_port}.isdisjoint({9092, 5432, 6379})
    assert str(infra.postgres_port) in DatabaseSettings().url
    assert KafkaSettings().bootstrap.endswith(str(infra.kafka_port))
    assert RedisSettings().url.startswith(f"redis://127.0.0.1:{infra.redis_port}")


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_GATEWAY_PORT", "99999")
    with pytest.raises(ValueError, match="port"):
        GatewaySettings()


def test_limits_read_sizes_with_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_LIMITS_REQUEST_BYTES", "2MiB")
    monkeypatch.setenv("TIDEFLOW_LIMITS_SIGNAL_BYTES", "1000")
    monkeypatch.setenv("TIDEFLOW_LIMITS_JSON_DEPTH", "32")
    limits = GatewaySettings().limits
    assert limits.request_bytes == 2 * 1024 * 1024
    assert limits.signal_bytes == 1000
    assert limits.json_depth == 32
    assert LimitsSettings().definition_nodes == 500
