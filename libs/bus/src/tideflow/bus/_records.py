"""What consumers read: records as the broker holds them, and decoded messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tideflow.bus._outgoing import Headers
    from tideflow.bus._proto.v1.envelope_pb2 import Envelope


MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest record the bus publishes and its topics accept (Kafka's default is 1 MiB).

The engine's own limits let a message outgrow 1 MiB: a task carries its rendered config
(up to `TIDEFLOW_LIMITS_EVENT_BYTES`, 4 MiB), a StartRun its input (1 MiB) and its
definition (1 MiB). With Kafka's default such a record could never be published, and the
batch it travelled in (other runs' messages too) was retried for ever."""


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    """A record as the broker holds it, before decoding (what a dead letter preserves)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = ()

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded record handed to a consumer."""

    record: Record
    envelope: Envelope

    @property
    def topic(self) -> str:
        return self.record.topic

    @property
    def partition(self) -> int:
        return self.record.partition

    @property
    def offset(self) -> int:
        return self.record.offset

    @property
    def key(self) -> str | None:
        return None if self.record.key is None else self.record.key.decode()
