"""The Bus port: what services publish and consume through, whatever the broker.

Consumption is batch-oriented because the scheduler's throughput comes from writing one
database transaction per batch. A batch is finished by exactly one of `commit()` (its
effects are durable: move the group's offsets past it) or `rewind()` (its handler failed:
deliver it again). Asking for the next batch before finishing the current one raises
BatchStateError, since Kafka offsets are positional and moving on would silently commit
or skip messages (`run_pipelined()` lifts this barrier, committing in order; see
`_pipeline`). A consumer that closes (or crashes) with a batch unfinished leaves its
offsets where they were, so the group gets those messages again: at-least-once delivery,
made exactly-once in effect by idempotent handlers (commands carry ids).

Records that do not decode never reach the handler: the consumer sends them to the
dead-letter topic with the reason before it hands out the batch, and their offsets are
committed with the batch, so a poison message never blocks its partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Self

from tideflow.bus._codec import decode_envelope, encode_envelope
from tideflow.bus._errors import BatchStateError, CodecError
from tideflow.bus._outgoing import (
    Headers,
    Outgoing,
    RawOutgoing,
    encode_outgoing,
    envelope_headers,
)
from tideflow.bus._pipeline import Pipeline
from tideflow.bus._proto.v1.dlq_pb2 import DeadLetter, Header
from tideflow.bus._proto.v1.envelope_pb2 import Envelope

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
    from types import TracebackType

    from tideflow.bus._topics import Topics

logger = logging.getLogger("tideflow.bus")


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


def dead_letter_record(
    record: Record, *, reason: str, code: str, group: str, dlq_topic: str
) -> RawOutgoing:
    """The dead letter for a record; its id is derived from the record's coordinates so
    that dead-lettering the same record twice (at-least-once) is recognisable."""
    letter = DeadLetter(
        original_topic=record.topic,
        original_partition=record.partition,
        original_offset=record.offset,
        original_key=record.key or b"",
        original_value=record.value,
        original_headers=[Header(key=k, value=v) for k, v in record.headers],
        reason=reason,
        error_code=code,
        consumer_group=group,
    )
    letter.failed_at.FromDatetime(datetime.now(UTC))
    envelope = Envelope(
        message_id=f"dlq:{group}:{record.topic}:{record.partition}:{record.offset}",
        type=DeadLetter.DESCRIPTOR.full_name,
    )
    try:  # keep tenant, run and trace when the original envelope is readable
        original = decode_envelope(record.value)
    except CodecError:
        pass
    else:
        envelope.tenant_id = original.tenant_id
        envelope.run_id = original.run_id
        envelope.trace.CopyFrom(original.trace)
    envelope.produced_at.FromDatetime(datetime.now(UTC))
    envelope.dead_letter.CopyFrom(letter)
    return RawOutgoing(
        topic=dlq_topic,
        key=record.key,
        value=encode_envelope(envelope),
        headers=envelope_headers(envelope),
    )


class Batch:
    """Messages fetched together; finish it with `commit()` or `rewind()`."""

    def __init__(
        self,
        consumer: Consumer,
        messages: Sequence[Message],
        *,
        next_offsets: dict[TopicPartition, int],
        dead_lettered: int = 0,
    ) -> None:
        self._consumer = consumer
        self.messages: tuple[Message, ...] = tuple(messages)
        self.dead_lettered = dead_lettered
        # where each partition resumes after this batch (poison records included)
        self.next_offsets = dict(next_offsets)
        # where each partition restarts if the batch is rewound (poison already handled)
        self.first_offsets: dict[TopicPartition, int] = {}
        for message in self.messages:
            self.first_offsets.setdefault(message.record.topic_partition, message.offset)
        self._done = False

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def done(self) -> bool:
        return self._done

    async def commit(self) -> bool:
        """Mark the batch handled: call only once its effects are durable.

        Returns False when some of its partitions were reassigned to another member
        meanwhile; those messages will be delivered again there (idempotency absorbs it).
        """
        self._finish()
        return await self._consumer._commit(self.next_offsets)  # noqa: SLF001

    async def rewind(self) -> None:
        """Give the batch back: its messages are delivered again by the next fetch."""
        self._finish()
        await self._consumer._seek(self.first_offsets)  # noqa: SLF001

    def _finish(self) -> None:
        if self._done:
            raise BatchStateError("batch already committed or rewound")
        self._done = True


class Consumer(ABC):
    """A member of a consumer group reading batches from some topics.

    Use as `async with bus.consumer([...], group="g") as c: async for batch in c: ...`
    or hand a handler to `run()`, which commits after it returns and rewinds if it raises.
    """

    def __init__(self, bus: Bus, topics: Sequence[str], *, group: str, max_batch: int) -> None:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.bus = bus
        self.topics = tuple(topics)
        self.group = group
        self.max_batch = max_batch
        self._pending: Batch | None = None
        self._pipelined = False
        self._closed = False
        self.raw = False
        """Hand records over undecoded (foreign topics): see `Bus.raw_consumer`."""
        # bumped whenever a partition is taken away, so work fetched before is recognisable
        self._epochs: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def start(self) -> None:
        """Join the group; partitions are assigned (and rebalanced) from now on."""

    @abstractmethod
    async def close(self) -> None:
        """Leave the group; whatever this member did not commit goes to another member."""

    @abstractmethod
    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member currently owns."""

    @property
    def closed(self) -> bool:
        return self._closed

    @abstractmethod
    async def _fetch(self, max_wait: timedelta | None, limit: int | None = None) -> list[Record]:
        """Up to max_batch (and `limit`) records from owned partitions, in offset order per
        partition; waits at most `max_wait` (forever when None) for the first one; [] on
        time-out."""

    @abstractmethod
    async def _commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit offsets of partitions still owned; False if any were not."""

    @abstractmethod
    async def _seek(self, offsets: dict[TopicPartition, int]) -> None:
        """Move owned partitions back to the given offsets."""

    def _epoch(self, tp: TopicPartition) -> int:
        return self._epochs.get(tp, 0)

    def _revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Implementations call this when partitions are taken from this member."""
        for tp in partitions:
            self._epochs[tp] = self._epoch(tp) + 1

    async def next_batch(self, max_wait: timedelta | None = None) -> Batch | None:
        """The next batch, or None if nothing arrived within `max_wait`."""
        if self._pipelined:
            raise BatchStateError("this consumer is running pipelined")
        if self._pending is not None and not self._pending.done:
            raise BatchStateError("commit() or rewind() the previous batch before the next one")
        loop = asyncio.get_running_loop()
        deadline = None if max_wait is None else loop.time() + max_wait.total_seconds()
        while True:
            remaining = (
                None if deadline is None else timedelta(seconds=max(0.0, deadline - loop.time()))
            )
            batch = await self._fetch_decoded(remaining)
            if batch is None:
                if self._closed or (deadline is not None and loop.time() >= deadline):
                    return None
                continue
            if batch.messages:
                self._pending = batch
                return batch
            # only poison: it is dead-lettered durably, so move past it at once
            await self._commit(batch.next_offsets)

    async def _fetch_decoded(
        self, max_wait: timedelta | None, *, limit: int | None = None
    ) -> Batch | None:
        """One fetch, decoded and its poison dead-lettered; None when nothing came."""
        records = await self._fetch(max_wait, limit)
        if not records:
            return None
        try:
            return await self._decode(records)
        except BaseException:
            # the dead-letter send failed: fetch these records again rather than skip them
            first: dict[TopicPartition, int] = {}
            for record in records:
                first.setdefault(record.topic_partition, record.offset)
            await self._seek(first)
            raise

    async def _decode(self, records: list[Record]) -> Batch:
        if self.raw:
            return Batch(
                self,
                [Message(record, Envelope()) for record in records],
                next_offsets={r.topic_partition: r.offset + 1 for r in records},
            )
        messages: list[Message] = []
        poison: list[RawOutgoing] = []
        next_offsets: dict[TopicPartition, int] = {}
        for record in records:
            next_offsets[record.topic_partition] = record.offset + 1
            try:
                messages.append(Message(record, decode_envelope(record.value)))
            except CodecError as e:
                logger.warning(
                    "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, e
                )
                poison.append(
                    dead_letter_record(
                        record,
                        reason=e.reason,
                        code=e.code,
                        group=self.group,
                        dlq_topic=self.bus.topics.dlq,
                    )
                )
        if poison:
            await self.bus.publish_raw_batch(poison)
        return Batch(self, messages, next_offsets=next_offsets, dead_lettered=len(poison))

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Batch]:
        while not self._closed:
            batch = await self.next_batch(max_wait=timedelta(milliseconds=250))
            if batch is not None:
                yield batch

    async def run(
        self,
        handler: Callable[[Batch], Awaitable[None]],
        *,
        stop: asyncio.Event,
        retry_delay: timedelta = timedelta(milliseconds=200),
        max_retry_delay: timedelta = timedelta(seconds=30),
        max_attempts: int | None = None,
        transient: Callable[[Exception], bool] | None = None,
    ) -> None:
        """Feed batches to `handler` until `stop` is set.

        A handler that returns has made its effects durable, so the batch is committed;
        one that raises gets the same messages again after a delay that doubles from
        `retry_delay` up to `max_retry_delay`. Failures that `transient` recognises (the
        database or broker is away) say nothing about the messages and are retried
        without bound. With `max_attempts` set, any other failure repeated that many times
        makes the consumer handle the batch one message at a time, and a message that
        still fails `max_attempts` times goes to the dead-letter topic with the error as
        its reason: one poison message never stalls its partition. Without it every
        failure is retried without bound (for handlers that cannot tell an outage from a
        poison message).
        """
        if max_attempts is None:
            max_attempts, transient = 1, _always
        policy = _Retry(retry_delay, max_retry_delay, max_attempts, transient or _never)
        failures = 0
        failing: dict[TopicPartition, int] | None = None
        while not stop.is_set() and not self._closed:
            batch = await self.next_batch(max_wait=timedelta(milliseconds=100))
            if batch is None:
                continue
            if batch.first_offsets != failing:
                failures = 0
            try:
                await handler(batch)
            except Exception as e:
                counted = not policy.transient(e)
                failures += counted
                failing = batch.first_offsets
                if failures >= policy.max_attempts:
                    logger.warning(
                        "batch failed %d times; handling it message by message", failures
                    )
                    await self._one_by_one(batch, handler, policy, stop)
                    failures, failing = 0, None
                    continue
                logger.exception("handler failed; the batch will be delivered again")
                await batch.rewind()
                await _pause(stop, policy.delay(failures))
                continue
            failures, failing = 0, None
            await batch.commit()

    async def _one_by_one(
        self,
        batch: Batch,
        handler: Callable[[Batch], Awaitable[None]],
        policy: _Retry,
        stop: asyncio.Event,
    ) -> None:
        """Handle each message of a failing batch alone; dead-letter the ones that keep
        failing. Offsets move past each message as soon as it is handled."""
        for message in batch.messages:
            tp = message.record.topic_partition
            attempts = 0
            while True:
                single = Batch(self, [message], next_offsets={tp: message.offset + 1})
                try:
                    await handler(single)
                except Exception as e:
                    attempts += not policy.transient(e)
                    if stop.is_set():
                        await batch.rewind()
                        return
                    if attempts >= policy.max_attempts:
                        logger.exception("dead-lettering a message its handler keeps failing on")
                        reason = f"handler failed {attempts} times: {type(e).__name__}: {e}"
                        await self.bus.dead_letter(
                            message, reason=reason[:4096], code="consumer.handler_failed",
                            group=self.group,
                        )  # fmt: skip
                        await self._commit({tp: message.offset + 1})
                        break
                    await _pause(stop, policy.delay(max(attempts, 1)))
                    continue
                await self._commit({tp: message.offset + 1})
                break
        await batch.commit()  # past the batch's dead-lettered undecodable records too

    async def run_pipelined(
        self,
        handler: Callable[[Message], Awaitable[None]],
        *,
        stop: asyncio.Event,
        max_in_flight: int,
        max_uncommitted: int | None = None,
        retry_delay: timedelta = timedelta(milliseconds=200),
        drain_timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        """Hand every message to `handler` as soon as it is fetched, until `stop` is set.

        Up to `max_in_flight` handlers run at once; offsets are committed per partition up
        to the first message whose handler has not returned (at most `max_uncommitted`
        messages, default 16 x max_in_flight, wait behind one). A handler that raises
        rewinds its partition: handlers of later messages are cancelled, and the messages
        from the failed one on are delivered again after `retry_delay`. On stop, fetching ends,
        running handlers get `drain_timeout` to finish, and what finished is committed.
        """
        if self._pending is not None and not self._pending.done:
            raise BatchStateError("commit() or rewind() the current batch first")
        if self._pipelined:
            raise BatchStateError("this consumer is already running pipelined")
        pipeline = Pipeline(
            self,
            handler,
            max_in_flight=max_in_flight,
            max_uncommitted=max_uncommitted or 16 * max_in_flight,
            retry_delay=retry_delay,
            drain_timeout=drain_timeout,
        )
        self._pipelined = True
        try:
            await pipeline.run(stop)
        finally:
            self._pipelined = False


@dataclass(frozen=True, slots=True)
class _Retry:
    """How `Consumer.run` retries a failing handler."""

    first_delay: timedelta
    max_delay: timedelta
    max_attempts: int
    transient: Callable[[Exception], bool]

    def delay(self, failures: int) -> timedelta:
        """Exponential from the first delay, capped."""
        factor: int = 2 ** min(max(failures - 1, 0), 20)
        delay: timedelta = self.first_delay * factor
        return min(delay, self.max_delay)


def _never(_: Exception) -> bool:
    return False


def _always(_: Exception) -> bool:
    return True


async def _pause(stop: asyncio.Event, delay: timedelta) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay.total_seconds())


class Bus(ABC):
    """Publishes envelopes to keyed partitions and creates group consumers."""

    def __init__(self, *, topics: Topics) -> None:
        self.topics = topics

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def start(self) -> None:
        """Connect; must be awaited before publishing."""

    @abstractmethod
    async def close(self) -> None:
        """Flush pending sends and disconnect."""

    @abstractmethod
    async def ensure_topics(self, names: Iterable[str], *, partitions: int) -> None:
        """Create missing topics with `partitions` partitions; existing ones are kept as
        they are (adding partitions would move keys, and with them runs, elsewhere)."""

    @abstractmethod
    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        """Send records and return once the broker has them durably, order kept per key."""

    @abstractmethod
    def consumer(
        self,
        topics: Sequence[str],
        *,
        group: str,
        max_batch: int = 500,
    ) -> Consumer:
        """A new (not yet started) member of consumer group `group`."""

    def raw_consumer(self, topics: Sequence[str], *, group: str, max_batch: int = 500) -> Consumer:
        """A consumer of foreign topics (what other systems publish, not envelopes): its
        messages carry the record as it is and an empty envelope, nothing is dead-lettered,
        and offsets move only on `commit()` as for any consumer."""
        consumer = self.consumer(topics, group=group, max_batch=max_batch)
        consumer.raw = True
        return consumer

    async def publish(self, topic: str, key: str, envelope: Envelope) -> None:
        """Publish one envelope; returns once it is durable on the broker."""
        await self.publish_batch([Outgoing(topic, key, envelope)])

    async def publish_batch(self, messages: Iterable[Outgoing]) -> None:
        """Publish many envelopes (to any topics) in one round trip, order kept per key."""
        await self.publish_raw_batch([encode_outgoing(m) for m in messages])

    async def dead_letter(
        self, message: Message | Record, *, reason: str, code: str, group: str
    ) -> None:
        """Send a message a handler cannot process (e.g. for an unknown run) to the DLQ;
        the caller then commits it with its batch, so it never blocks the partition."""
        record = message.record if isinstance(message, Message) else message
        await self.publish_raw_batch(
            [
                dead_letter_record(
                    record, reason=reason, code=code, group=group, dlq_topic=self.topics.dlq
                )
            ]
        )
