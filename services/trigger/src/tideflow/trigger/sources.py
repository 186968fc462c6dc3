"""Where event-trigger messages come from: Kafka through FastStream, or the process's bus.

Both keep one subscription per topic any event trigger names, compare that set with the
registrations every `event_refresh`, and resubscribe when it changed. Offsets are
committed only after the runs a message starts are recorded (FastStream:
`AckPolicy.NACK_ON_ERROR`, so a failure seeks back and the message comes again; the bus
source commits its batch after the handler returned), and the runs are keyed by the
message's coordinates: redelivery never starts a second run.

A topic subscribed for the first time is read from its beginning by default
(`event_offset_reset`), so messages published between a trigger's publication and its
subscription (the next refresh) are not lost; `latest` skips a topic's history instead.
Later restarts resume at the committed offset, so nothing published while the service
was down is lost. A message whose runs fail to start `MAX_ATTEMPTS` times for a reason of
its own (not an outage of the database, broker or Redis) goes to the DLQ, so it never
holds its partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Literal, Protocol

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from tideflow.runtime import caused_by
from tideflow.trigger.events import MAX_ATTEMPTS, OUTAGES, EventTriggers, Incoming

if TYPE_CHECKING:
    from datetime import timedelta

    from tideflow.bus import Batch, Bus, Consumer

log = logging.getLogger(__name__)


class EventSource(Protocol):
    """Feeds messages of the subscribed topics to the event triggers until stopped."""

    async def run(self, stop: asyncio.Event) -> None: ...

    @property
    def subscribed(self) -> frozenset[str]:
        """The topics currently subscribed to (and assigned)."""
        ...


class _Resubscribing(ABC):
    """The refresh loop both sources share: subscribe to what the registrations name."""

    def __init__(self, triggers: EventTriggers, refresh: timedelta) -> None:
        self._triggers = triggers
        self._refresh = refresh.total_seconds()
        self._topics: frozenset[str] = frozenset()

    @abstractmethod
    async def _subscribe(self, topics: frozenset[str]) -> None:
        """Start receiving `topics` (the source's own transport)."""

    @abstractmethod
    async def _unsubscribe(self) -> None:
        """Stop receiving whatever is subscribed now."""

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    topics = await self._triggers.refresh()
                    if topics != self._topics:
                        await self._unsubscribe()
                        self._topics = frozenset()
                        if topics:
                            await self._subscribe(topics)
                        self._topics = topics
                        log.info("event triggers subscribed to %s", sorted(topics) or "nothing")
                except Exception:
                    log.exception("refreshing event subscriptions failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._refresh)
        finally:
            await self._unsubscribe()


class KafkaEventSource(_Resubscribing):
    """User topics on Kafka, through a FastStream broker (one per set of topics)."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group: str,
        triggers: EventTriggers,
        refresh: timedelta,
        offset_reset: Literal["latest", "earliest"] = "earliest",
    ) -> None:
        super().__init__(triggers, refresh)
        self._bootstrap = bootstrap
        self._group = group
        self._offset_reset = offset_reset
        self._broker: KafkaBroker | None = None
        self._subscribers: list[Any] = []
        self._failures: dict[tuple[str, int, int], int] = {}
        """Failed attempts per message (topic, partition, offset), until it succeeds or
        is dead-lettered."""

    @property
    def subscribed(self) -> frozenset[str]:
        assigned: set[str] = set()
        for subscriber in self._subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is not None:
                assigned.update(tp.topic for tp in consumer.assignment())
        return frozenset(assigned)

    async def _subscribe(self, topics: frozenset[str]) -> None:
        broker = KafkaBroker(self._bootstrap, logger=log, graceful_timeout=10)
        triggers = self._triggers
        failures = self._failures

        async def handle(message: KafkaMessage) -> None:
            record: Any = message.raw_message  # one ConsumerRecord (not a batch subscriber)
            incoming = Incoming(
                topic=record.topic, partition=record.partition, offset=record.offset,
                key=record.key, value=record.value or b"",
                headers=tuple((k, v or b"") for k, v in (record.headers or ())),
            )  # fmt: skip
            where = (incoming.topic, incoming.partition, incoming.offset)
            try:
                await triggers.handle([incoming])
            except Exception as e:
                # NACK seeks back: without a bound one message would hold its partition
                if caused_by(e, OUTAGES):
                    raise
                failures[where] = failures.get(where, 0) + 1
                if failures[where] < MAX_ATTEMPTS:
                    raise
                await triggers.give_up(incoming, e)
            failures.pop(where, None)

        self._subscribers = []
        for topic in sorted(topics):
            subscriber = broker.subscriber(
                topic,
                group_id=self._group,
                ack_policy=AckPolicy.NACK_ON_ERROR,
                auto_offset_reset=self._offset_reset,
            )
            subscriber(handle)
            self._subscribers.append(subscriber)
        await broker.start()
        self._broker = broker

    async def _unsubscribe(self) -> None:
        broker, self._broker = self._broker, None
        self._subscribers = []
        if broker is not None:
            await broker.stop()


class BusEventSource(_Resubscribing):
    """User topics on the process's bus (the in-process bus of `tide dev`)."""

    def __init__(
        self, *, bus: Bus, group: str, triggers: EventTriggers, refresh: timedelta
    ) -> None:
        super().__init__(triggers, refresh)
        self._bus = bus
        self._group = group
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def subscribed(self) -> frozenset[str]:
        consumer = self._consumer
        if consumer is None:
            return frozenset()
        return frozenset(tp.topic for tp in consumer.assignment())

    async def _handle(self, batch: Batch) -> None:
        await self._triggers.handle([
            Incoming(
                topic=m.record.topic, partition=m.record.partition, offset=m.record.offset,
                key=m.record.key, value=m.record.value, headers=m.record.headers,
            )
            for m in batch
        ])  # fmt: skip

    async def _subscribe(self, topics: frozenset[str]) -> None:
        await self._bus.ensure_topics(sorted(topics), partitions=1)
        consumer = self._bus.raw_consumer(sorted(topics), group=self._group, max_batch=100)
        await consumer.start()
        self._consumer = consumer
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            consumer.run(
                self._handle, stop=self._stop, max_attempts=MAX_ATTEMPTS,
                transient=lambda error: caused_by(error, OUTAGES),
            )
        )  # fmt: skip

    async def _unsubscribe(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.close()
