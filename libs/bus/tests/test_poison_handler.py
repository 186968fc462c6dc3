"""`Consumer.run` with a handler that keeps failing: bounded retries, then the DLQ."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tideflow.bus import Batch, BusConnectionError, InMemoryBus, Topics, new_envelope, pb

pytestmark = pytest.mark.unit

FAST = {"retry_delay": timedelta(milliseconds=1), "max_retry_delay": timedelta(milliseconds=5)}


async def test_a_message_its_handler_always_fails_on_is_dead_lettered() -> None:
    bus = InMemoryBus(topics=Topics(prefix="poison"), default_partitions=1)
    handled: list[str] = []
    calls = 0
    stop = asyncio.Event()

    async def handler(batch: Batch) -> None:
        nonlocal calls
        calls += 1
        ids = [m.envelope.message_id for m in batch]
        if "bad" in ids:
            raise ValueError("cannot handle 'bad'")
        handled.extend(ids)
        if "last" in ids:
            stop.set()

    async with bus:
        for message_id in ("a", "bad", "b", "last"):
            envelope = new_envelope(
                pb.Cancel(command_id=message_id, run_id="r"), tenant_id="t", run_id="r",
                message_id=message_id,
            )  # fmt: skip
            await bus.publish(bus.topics.runs, "r", envelope)
        consumer = bus.consumer([bus.topics.runs], group="g")
        await consumer.start()
        await asyncio.wait_for(consumer.run(handler, stop=stop, max_attempts=3, **FAST), 10)
        await consumer.close()
        assert handled == ["a", "b", "last"]
        assert calls <= 3 + 1 + 3 + 2  # the batch 3 times, then each message (bad 3 times)
        async with bus.consumer([bus.topics.dlq], group="ops") as dlq:
            letters = await dlq.next_batch(max_wait=timedelta(milliseconds=100))
            assert letters is not None
            (letter,) = [m.envelope.dead_letter for m in letters]
            assert letter.error_code == "consumer.handler_failed"
            assert "cannot handle 'bad'" in letter.reason
            assert letter.original_offset == 1


async def test_transient_failures_are_retried_without_bound() -> None:
    bus = InMemoryBus(topics=Topics(prefix="transient"), default_partitions=1)
    failures = 20
    stop = asyncio.Event()

    async def handler(batch: Batch) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise BusConnectionError("broker away")
        stop.set()

    async with bus:
        envelope = new_envelope(pb.Cancel(command_id="c", run_id="r"), tenant_id="t", run_id="r")
        await bus.publish(bus.topics.runs, "r", envelope)
        consumer = bus.consumer([bus.topics.runs], group="g")
        await consumer.start()
        transient = lambda e: isinstance(e, BusConnectionError)  # noqa: E731
        await asyncio.wait_for(
            consumer.run(handler, stop=stop, max_attempts=3, transient=transient, **FAST), 10
        )
        await consumer.close()
        assert failures == 0
        async with bus.consumer([bus.topics.dlq], group="ops") as dlq:
            assert await dlq.next_batch(max_wait=timedelta(milliseconds=50)) is None


async def test_without_a_bound_every_failure_is_retried() -> None:
    bus = InMemoryBus(topics=Topics(prefix="unbounded"), default_partitions=1)
    failures = 12
    stop = asyncio.Event()

    async def handler(batch: Batch) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise ValueError("not yet")
        stop.set()

    async with bus:
        envelope = new_envelope(pb.Cancel(command_id="c", run_id="r"), tenant_id="t", run_id="r")
        await bus.publish(bus.topics.runs, "r", envelope)
        consumer = bus.consumer([bus.topics.runs], group="g")
        await consumer.start()
        await asyncio.wait_for(consumer.run(handler, stop=stop, **FAST), 10)
        await consumer.close()
        assert failures == 0
        async with bus.consumer([bus.topics.dlq], group="ops") as dlq:
            assert await dlq.next_batch(max_wait=timedelta(milliseconds=50)) is None
