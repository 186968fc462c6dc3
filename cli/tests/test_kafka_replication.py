"""The topics a service creates get TIDEFLOW_KAFKA_REPLICATION_FACTOR replicas.

Against the real single-broker Kafka: a factor of 1 creates the topic; a factor of 2 is
refused by the broker, which shows the setting reaches the topic creation.
"""

from __future__ import annotations

import uuid

import pytest

from tideflow.bus import BusError
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
