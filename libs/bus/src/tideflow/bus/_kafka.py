"""The bus on a real Kafka cluster, with aiokafka directly rather than FastStream.

Why not FastStream's subscribers here: the scheduler needs (1) batches in which every
record is decoded separately, so one poison record is dead-lettered while its neighbours
are handled; (2) a commit of an exact offset map issued by the caller after its database
transaction, not when a handler returns; (3) `rewind()` (seek back) when that transaction
fails; (4) to know whether a commit still owned its partitions after a rebalance; and
(5) the same API as the in-memory bus so one contract suite covers both. FastStream's
batch subscriber acks per message or per handler call and hides seek and assignment, so
this adapter drives `AIOKafkaConsumer.getmany` with auto-commit off (the explicit ack
policy) and commits only through `Batch.commit()`. Services may still use FastStream for
their app lifecycle; they consume through this port.

Latency: a fetch returns as soon as one byte is there (`fetch_min_bytes` 1), so how long
it may wait at the broker when nothing is there (`fetch_max_wait`, 100 ms) adds no latency
to a record: aiokafka sends the next fetch only once the previous one's records are
consumed, and it names every partition, so a record arriving anywhere ends the wait. The
wait only sets how often an idle consumer asks again: at 10 ms, the three consumers of a
Kafka stack kept the broker busy with empty fetches (half its CPU in W1/W2, see
docs/performance.md). Its cost is paid on a rewind: the fetch in flight is answered
first, so a seek back waits up to `fetch_max_wait`. Sends do not linger: aiokafka keeps
one produce request in flight per broker and batches whatever is enqueued meanwhile, so a
linger only adds latency (measured: publish p50 2.3 -> 1.6 ms with acks=all, round trip
unchanged under load).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    RebalanceInProgressError,
)

from tideflow.bus._errors import BusConnectionError, BusError
from tideflow.bus._partitioner import CachedPartitioner
from tideflow.bus._port import Bus, Consumer
from tideflow.bus._quiet import quiet_startup_noise
from tideflow.bus._records import MAX_MESSAGE_BYTES, Record, TopicPartition
from tideflow.bus._topics import Topics

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from tideflow.bus._outgoing import RawOutgoing

_TOPIC_ALREADY_EXISTS = 36
_POSITION_WAIT = 0.5
"""Seconds to wait for a newly assigned partition's position (for the lag) per fetch."""


class KafkaBus(Bus):
    """Publishes with an idempotent, acks=all producer; consumers are aiokafka members."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Topics | None = None,
        client_id: str = "tideflow",
        linger: timedelta = timedelta(0),
        fetch_max_wait: timedelta = timedelta(milliseconds=100),
        session_timeout: timedelta = timedelta(seconds=10),
        heartbeat_interval: timedelta = timedelta(milliseconds=500),
        max_poll_interval: timedelta = timedelta(minutes=5),
        replication_factor: int = 1,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        super().__init__(topics=topics or Topics())
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.linger = linger
        self.fetch_max_wait = fetch_max_wait
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval
        self.max_poll_interval = max_poll_interval
        self.replication_factor = replication_factor
        self.max_message_bytes = max_message_bytes
        self._producer: AIOKafkaProducer | None = None
        self._consumers: set[KafkaConsumer] = set()

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=_ms(self.linger),
            partitioner=CachedPartitioner(),
            max_request_size=self.max_message_bytes,
        )
        quiet_startup_noise()
        try:
            await producer.start()
        except KafkaError as e:
            await producer.stop()
            raise BusConnectionError(f"cannot connect to Kafka at {self.bootstrap_servers}") from e
        self._producer = producer

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.close()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def ensure_topics(self, names: Iterable[str], *, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        wanted = sorted(set(names))
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, client_id=self.client_id
        )
        try:
            await admin.start()
            response = await admin.create_topics(
                [
                    NewTopic(
                        name,
                        partitions,
                        self.replication_factor,
                        topic_configs={"max.message.bytes": str(self.max_message_bytes)},
                    )
                    for name in wanted
                ]
            )
        except KafkaError as e:
            raise BusConnectionError(f"cannot create topics {wanted}") from e
        finally:
            await admin.close()
        for topic_error in response.topic_errors:
            name, code = topic_error[0], topic_error[1]
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise BusError(f"creating topic {name} failed with Kafka error code {code}")

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        if self._producer is None:
            raise BusError("bus is not started")
        try:
            # send() only enqueues (in order, so per-key order holds); then await them all
            pending = [
                await self._producer.send(
                    record.topic, record.value, key=record.key, headers=list(record.headers)
                )
                for record in records
            ]
            await asyncio.gather(*pending)
        except KafkaError as e:
            raise BusConnectionError(f"publishing {len(records)} records failed") from e

    def consumer(self, topics: Sequence[str], *, group: str, max_batch: int = 500) -> Consumer:
        consumer = KafkaConsumer(self, topics, group=group, max_batch=max_batch,
                                 closed=self._consumers.discard)  # fmt: skip
        self._consumers.add(consumer)  # closed with the bus, unless closed before
        return consumer


class KafkaConsumer(Consumer):
    """One aiokafka group member; created by `KafkaBus.consumer()`."""

    def __init__(
        self,
        bus: KafkaBus,
        topics: Sequence[str],
        *,
        group: str,
        max_batch: int,
        closed: Callable[[KafkaConsumer], None],
    ) -> None:
        super().__init__(bus, topics, group=group, max_batch=max_batch)
        self._kafka = bus
        self._on_close = closed
        self._consumer: AIOKafkaConsumer | None = None
        # where each owned partition's fetching has got to: the lag's reference point
        self._fetched: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        if self._consumer is not None:
            raise BusError("consumer already started")
        bus = self._kafka
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bus.bootstrap_servers,
            client_id=bus.client_id,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=_ms(bus.fetch_max_wait),
            fetch_min_bytes=1,
            max_poll_records=self.max_batch,
            session_timeout_ms=_ms(bus.session_timeout),
            heartbeat_interval_ms=_ms(bus.heartbeat_interval),
            max_poll_interval_ms=_ms(bus.max_poll_interval),
        )
        consumer.subscribe(list(self.topics), listener=_Revocations(self))
        try:
            await consumer.start()
        except KafkaError as e:
            await consumer.stop()
            raise BusConnectionError(f"cannot join group {self.group}") from e
        self._consumer = consumer

    async def close(self) -> None:
        if self._consumer is not None and not self._closed:
            self._closed = True
            self._on_close(self)
            await self._consumer.stop()

    def assignment(self) -> frozenset[TopicPartition]:
        if self._consumer is None or self._closed:
            return frozenset()
        return frozenset(
            TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment()
        )

    async def fetch(self, max_wait: timedelta | None, limit: int | None = None) -> list[Record]:
        consumer = self._require()
        wait_ms = 1000 if max_wait is None else _ms(max_wait)
        most = min(limit or self.max_batch, self.max_batch)
        try:
            fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=most)
        except KafkaError as e:
            raise BusConnectionError(f"fetching for group {self.group} failed") from e
        records = [
            Record(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value or b"",
                headers=tuple(record.headers),
            )
            for records in fetched.values()
            for record in records
        ]
        for record in records:
            self._fetched[record.topic_partition] = record.offset + 1
        await self._learn_positions(consumer)
        return records

    def lag(self) -> dict[TopicPartition, int]:
        """High watermark (as of the last fetch response) minus what was fetched."""
        if self._consumer is None or self._closed:
            return {}
        lags: dict[TopicPartition, int] = {}
        for ktp in self._consumer.assignment():
            end = self._consumer.highwater(ktp)
            tp = TopicPartition(ktp.topic, ktp.partition)
            if end is not None and tp in self._fetched:
                lags[tp] = max(0, int(end) - self._fetched[tp])
        return lags

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        taken = list(partitions)
        for tp in taken:
            self._fetched.pop(tp, None)
        super().revoked(taken)

    async def _learn_positions(self, consumer: AIOKafkaConsumer) -> None:
        """The fetch position of partitions nothing was fetched from yet (newly assigned),
        for the lag: once per assignment, from the consumer's own state."""
        for ktp in consumer.assignment():
            tp = TopicPartition(ktp.topic, ktp.partition)
            if tp in self._fetched:
                continue
            with contextlib.suppress(KafkaError, IllegalStateError, TimeoutError):
                self._fetched[tp] = int(
                    await asyncio.wait_for(consumer.position(ktp), timeout=_POSITION_WAIT)
                )

    async def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        consumer = self._require()
        owned = {KafkaTopicPartition(tp.topic, tp.partition) for tp in self.assignment()}
        mine = {
            KafkaTopicPartition(tp.topic, tp.partition): offset
            for tp, offset in offsets.items()
            if KafkaTopicPartition(tp.topic, tp.partition) in owned
        }
        if mine:
            try:
                await consumer.commit(mine)
            except (CommitFailedError, RebalanceInProgressError, IllegalStateError):
                return False
            except KafkaError as e:
                raise BusConnectionError(f"commit for group {self.group} failed") from e
        return len(mine) == len(offsets)

    async def seek(self, offsets: dict[TopicPartition, int]) -> None:
        consumer = self._require()
        owned = self.assignment()
        for tp, offset in offsets.items():
            if tp in owned:
                consumer.seek(KafkaTopicPartition(tp.topic, tp.partition), offset)

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise BusError("consumer is not started")
        return self._consumer


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the consumer which partitions a rebalance took away (aiokafka's rebalances
    are eager: every partition is revoked, then some are assigned back, their position
    reset to the committed offset), so work fetched before is never committed after."""

    def __init__(self, consumer: KafkaConsumer) -> None:
        self._owner = consumer

    def on_partitions_revoked(self, revoked: Iterable[KafkaTopicPartition]) -> None:
        self._owner.revoked(TopicPartition(tp.topic, tp.partition) for tp in revoked)

    def on_partitions_assigned(self, assigned: Iterable[KafkaTopicPartition]) -> None:
        """Nothing to do: a newly assigned partition starts from the committed offset."""


def _ms(duration: timedelta) -> int:
    return max(0, round(duration.total_seconds() * 1000))
