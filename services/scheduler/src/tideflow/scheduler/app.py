"""Scheduler wiring: the command consumer, the timer loop, the outbox relay, the public
event publisher, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from tideflow.bus import BusConnectionError
from tideflow.plugins import NodeTypeRegistry, load_registry
from tideflow.runtime import HealthServer
from tideflow.scheduler.backlog import BacklogSampler
from tideflow.scheduler.definitions import Definitions
from tideflow.scheduler.handlers import GROUP, CommandHandler
from tideflow.scheduler.publisher import EventPublisher
from tideflow.scheduler.relay import OutboxRelay
from tideflow.scheduler.retention import RetentionLoop
from tideflow.scheduler.states import RunStates
from tideflow.scheduler.timers import TimerLoop
from tideflow.store import ConcurrencyConflict, StoreUnavailable
from tideflow.wire import engine_limits

if TYPE_CHECKING:
    from tideflow.bus import Bus
    from tideflow.scheduler.settings import SchedulerSettings
    from tideflow.store import EventStore

log = logging.getLogger(__name__)

RELAY_POLL = timedelta(seconds=1)


async def ensure_topics(bus: Bus, *, partitions: int, queues: list[str]) -> None:
    """The topics every deployment needs; existing ones are left as they are."""
    names = [bus.topics.runs, bus.topics.events, bus.topics.dlq]
    names += [bus.topics.tasks(queue) for queue in queues]
    await bus.ensure_topics(names, partitions=partitions)


async def run_scheduler(
    *,
    settings: SchedulerSettings,
    store: EventStore,
    bus: Bus,
    stop: asyncio.Event,
    serve_health: bool = True,
    node_types: NodeTypeRegistry | None = None,
) -> None:
    """Decide commands until `stop` is set; in-flight batches finish before returning.

    `node_types` (default: the installed plugins) is the catalog runs are validated and
    decided with; inline plugin types are evaluated here.
    """
    await ensure_topics(bus, partitions=settings.kafka.partitions, queues=["default"])
    types = (node_types or load_registry()).types
    handler = CommandHandler(
        store=store,
        bus=bus,
        states=RunStates(store=store, types=types),
        definitions=Definitions(store=store, types=types),
        snapshot_every=settings.snapshot_every,
        limits=engine_limits(settings.limits),
        signal_bytes=int(settings.limits.signal_bytes),
    )
    consumer = bus.consumer([bus.topics.runs], group=GROUP, max_batch=settings.batch_max)
    await consumer.start()

    async def readiness() -> dict[str, bool]:
        return {"consumer": bool(consumer.assignment()) or not stop.is_set()}

    health = None
    if serve_health:
        health = HealthServer(
            service="scheduler", host=settings.host, port=settings.port, readiness=readiness
        )
        await health.start()
    timers = TimerLoop(store=store, bus=bus, poll=settings.timer_poll)
    relay = OutboxRelay(store=store, bus=bus, poll=RELAY_POLL)
    publisher = EventPublisher(
        store=store,
        bus=bus,
        poll=settings.events_poll,
        batch=settings.events_batch,
        wake=handler.committed,
    )
    retention = RetentionLoop(
        store=store, retention=settings.retention, every=settings.retention_every
    )
    backlog = BacklogSampler(
        store=store, every=settings.backlog_every, idle_after=settings.idle_after
    )
    tasks = [
        asyncio.create_task(
            consumer.run(handler, stop=stop, max_attempts=MAX_ATTEMPTS, transient=_transient),
            name="scheduler-consumer",
        ),
        asyncio.create_task(timers.run(stop), name="scheduler-timers"),
        asyncio.create_task(relay.run(stop), name="scheduler-relay"),
        asyncio.create_task(publisher.run(stop), name="scheduler-events"),
        asyncio.create_task(retention.run(stop), name="scheduler-retention"),
        asyncio.create_task(backlog.run(stop), name="scheduler-backlog"),
    ]
    log.info("scheduler running (group %s)", GROUP)
    try:
        await _until_stopped_or_failed(tasks, stop)
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        await consumer.close()
        await handler.drain()
        if health is not None:
            await health.stop()
        log.info("scheduler stopped")


MAX_ATTEMPTS = 8
"""Failures of a batch (other than outages) before it is handled message by message, and
of one message before it goes to the dead-letter topic."""
_TRANSIENT = (StoreUnavailable, BusConnectionError, ConcurrencyConflict, OSError)


def _transient(error: BaseException) -> bool:
    """Failures that say nothing about the commands (the database or broker is away, an
    append lost a race, a socket failed, also when wrapped): retried without bound, so an
    outage never sends commands to the dead-letter topic."""
    seen = 0
    cause: BaseException | None = error
    while cause is not None and seen < 10:  # noqa: PLR2004 - a bound on cause chains
        if isinstance(cause, _TRANSIENT):
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


async def _until_stopped_or_failed(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Return when `stop` is set; re-raise if a loop dies on its own."""
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if stopper not in done:
        stopper.cancel()
        for task in done:
            task.result()
