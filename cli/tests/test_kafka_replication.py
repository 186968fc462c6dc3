"""Kafka settings reach the bus: replication of the topics it creates, its fetch wait.

Against the real single-broker Kafka: a factor of 1 creates the topic; a factor of 2 is
refused by the broker, which shows the setting reaches the topic creation.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tideflow.bus import BusError, KafkaBus
from tideflow.cli._services import kafka_bus
from tideflow.settings import KafkaSettings

pytestmark = pytest.mark.integration


async def test_replication_factor_reaches_topic_creation(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    one = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=prefix, replication_factor=1)
    async with kafka_bus(one) as bus:
        await bus.ensure_topics([f"{prefix}.ok"], partitions=1)
    two = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=prefix, replication_factor=2)
    async with kafka_bus(two) as bus:
        with pytest.raises(BusError, match="Kafka error code"):
            await bus.ensure_topics([f"{prefix}.too-many-replicas"], partitions=1)


async def test_fetch_max_wait_reaches_the_bus(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEFLOW_KAFKA_FETCH_MAX_WAIT", "250ms")
    settings = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}")
    assert settings.fetch_max_wait == timedelta(milliseconds=250)
    async with kafka_bus(settings) as bus:
        assert isinstance(bus, KafkaBus)
        assert bus.fetch_max_wait == timedelta(milliseconds=250)
