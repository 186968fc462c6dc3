"""Consumer-group lag of a task topic, read from Kafka's own offsets.

Lag is, summed over the topic's partitions, the end offset minus the group's committed
offset; a partition the group never committed counts from the log's start, because the
executors read from the earliest offset when they have none (`auto_offset_reset`), so all
of it is work waiting. A topic that does not exist yet has no work: lag 0.
"""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition


class LagUnavailableError(ConnectionError):
    """Kafka could not be asked; the decision waits for the next look."""


class LagReader(Protocol):
    """What the scaler needs from Kafka."""

    async def lag(self, topic: str, group: str) -> int:
        """Messages of `topic` the consumer group `group` has not committed yet."""
        ...


class KafkaLag:
    """`LagReader` over Kafka: an admin client for group offsets, a consumer for log ends."""

    def __init__(self, bootstrap: str, *, request_timeout_ms: int = 10_000) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms
        )
        self._offsets = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            request_timeout_ms=request_timeout_ms,
        )
        self._started = False

    async def start(self) -> None:
        try:
            await self._admin.start()
            await self._offsets.start()
        except KafkaError as e:
            raise LagUnavailableError(f"cannot reach Kafka: {e}") from e
        self._started = True

    async def close(self) -> None:
        if self._started:
            await self._offsets.stop()
            await self._admin.close()
            self._started = False

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        described = await self._admin.describe_topics([topic])
        found = [d for d in described if d.get("topic") == topic and d.get("error_code") == 0]
        if not found:
            return []
        return [TopicPartition(topic, p["partition"]) for p in found[0].get("partitions", [])]

    async def lag(self, topic: str, group: str) -> int:
        try:
            partitions = await self._partitions(topic)
            if not partitions:
                return 0
            ends = await self._offsets.end_offsets(partitions)
            starts = await self._offsets.beginning_offsets(partitions)
            committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        except KafkaError as e:
            raise LagUnavailableError(f"lag of {group} on {topic}: {e}") from e
        total = 0
        for partition in partitions:
            done = committed.get(partition)
            position = done.offset if done is not None and done.offset >= 0 else None
            if position is None:
                position = starts[partition]
            total += max(ends[partition] - position, 0)
        return total
