"""The Bus port: what services publish and consume through, whatever the broker.

Consumption is batch-oriented because the scheduler's throughput comes from writing one
database transaction per batch. A batch is finished by exactly one of `commit()` or
`rewind()` (see `_batch`). Asking for the next batch before finishing the current one
raises BatchStateError, since Kafka offsets are positional and moving on would silently
commit or skip messages (`run_pipelined()` lifts this barrier, committing in order; see
`_pipeline`). A consumer that closes (or crashes) with a batch unfinished leaves its
offsets where they were, so the group gets those messages again: at-least-once delivery,
made exactly-once in effect by idempotent handlers (commands carry ids).

The layers: a broker adapter implements `ConsumerDriver` (fetch, commit, seek,
assignment, epoch); `Consumer` adds the two ways of consuming on top of it, each in its
own module (`_batch_loop.run_batches`, `_pipeline.Pipeline`), which use only the driver.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from datetime import timedelta
from typing import TYPE_CHECKING, Self

from tideflow.bus._batch import Batch, dead_letter_record, fetch_batch
from tideflow.bus._batch_loop import retry_policy, run_batches
from tideflow.bus._driver import ConsumerDriver
from tideflow.bus._errors import BatchStateError
from tideflow.bus._metrics import CONSUMER_LAG, DEAD_LETTERS
from tideflow.bus._outgoing import Outgoing, RawOutgoing, encode_outgoing
from tideflow.bus._pipeline import Pipeline
from tideflow.bus._records import Message, Record

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
    from types import TracebackType

    from tideflow.bus._proto.v1.envelope_pb2 import Envelope
    from tideflow.bus._topics import Topics


class Consumer(ConsumerDriver):
    """A member of a consumer group reading batches from some topics.

    Use as `async with bus.consumer([...], group="g") as c: async for batch in c: ...`
    or hand a handler to `run()`, which commits after it returns and rewinds if it raises.
    """

    def __init__(self, bus: Bus, topics: Sequence[str], *, group: str, max_batch: int) -> None:
        super().__init__(topics, group=group, max_batch=max_batch)
        self.bus = bus
        CONSUMER_LAG.track(self)
        self._pending: Batch | None = None
        self._pipelined = False
        self.raw = False
        """Hand records over undecoded (foreign topics): see `Bus.raw_consumer`."""

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

    @property
    def driver(self) -> ConsumerDriver:
        """The broker side of this consumer (itself), as the strategies see it."""
        return self

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
            batch = await fetch_batch(self, self.bus, remaining, raw=self.raw)
            if batch is None:
                if self._closed or (deadline is not None and loop.time() >= deadline):
                    return None
                continue
            if batch.messages:
                self._pending = batch
                return batch
            # only poison: it is dead-lettered durably, so move past it at once
            await self.commit(batch.next_offsets)

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
        """Feed batches to `handler` until `stop` is set (the batch loop, `_batch_loop`).

        A handler that returns has made its effects durable, so the batch is committed;
        one that raises gets the same messages again after a delay that doubles from
        `retry_delay` up to `max_retry_delay`. Failures that `transient` recognises (the
        database or broker is away) are retried without bound. With `max_attempts` set,
        any other failure repeated that many times makes the consumer handle the batch one
        message at a time, and a message that still fails `max_attempts` times goes to the
        dead-letter topic with the error as its reason. Without it every failure is
        retried without bound (for handlers that cannot tell an outage from a poison
        message).
        """
        policy = retry_policy(retry_delay, max_retry_delay, max_attempts, transient)
        await run_batches(self, self.bus, handler, stop=stop, policy=policy)

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
            self.bus,
            handler,
            raw=self.raw,
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
        DEAD_LETTERS.labels(group, code).inc()
