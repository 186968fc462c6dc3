"""The batch loop: fetch a batch, hand it to the handler, commit or rewind, repeat.

This is how the scheduler consumes: one database transaction per batch. A handler that
returns has made its effects durable, so the batch is committed (in the background: the
next batch is fetched during the broker's round trip, and each commit waits for the one
before it, so offsets land in order); one that raises gets the
same messages again after a delay that doubles from `retry_delay` up to
`max_retry_delay`. Failures that `transient` recognises (the database or broker is away)
say nothing about the messages and are retried without bound. With `max_attempts` set,
any other failure repeated that many times makes the loop handle the batch one message at
a time, and a message that still fails `max_attempts` times goes to the dead-letter topic
with the error as its reason: one poison message never stalls its partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from tideflow.bus._batch import Batch, DeadLetterSink, dead_letter_record

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tideflow.bus._driver import ConsumerDriver
    from tideflow.bus._records import TopicPartition

logger = logging.getLogger("tideflow.bus")


class BatchSource(Protocol):
    """What the loop reads from: a consumer's `next_batch` (it enforces one batch at a
    time) and its driver, for commits of single messages."""

    @property
    def driver(self) -> ConsumerDriver: ...

    async def next_batch(self, max_wait: timedelta | None = None) -> Batch | None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the loop retries a failing handler."""

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


def retry_policy(
    retry_delay: timedelta,
    max_retry_delay: timedelta,
    max_attempts: int | None,
    transient: Callable[[Exception], bool] | None,
) -> RetryPolicy:
    """Without `max_attempts` every failure is retried without bound (for handlers that
    cannot tell an outage from a poison message)."""
    if max_attempts is None:
        return RetryPolicy(retry_delay, max_retry_delay, 1, _always)
    return RetryPolicy(retry_delay, max_retry_delay, max_attempts, transient or _never)


async def pause(stop: asyncio.Event, delay: timedelta) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay.total_seconds())


async def run_batches(
    source: BatchSource,
    sink: DeadLetterSink,
    handler: Callable[[Batch], Awaitable[None]],
    *,
    stop: asyncio.Event,
    policy: RetryPolicy,
) -> None:
    """Feed batches to `handler` until `stop` is set (or the consumer closes)."""
    driver = source.driver
    failures = 0
    failing: dict[TopicPartition, int] | None = None
    committing: asyncio.Task[bool] | None = None  # the last batch's commit, in flight
    try:
        while not stop.is_set() and not driver.closed:
            batch = await source.next_batch(max_wait=timedelta(milliseconds=100))
            if batch is None:
                continue
            if batch.first_offsets != failing:
                failures = 0
            try:
                await handler(batch)
            except Exception as e:
                await _settled(committing)
                committing = None
                counted = not policy.transient(e)
                failures += counted
                failing = batch.first_offsets
                if failures >= policy.max_attempts:
                    logger.warning(
                        "batch failed %d times; handling it message by message", failures
                    )
                    await _one_by_one(driver, sink, batch, handler, policy=policy, stop=stop)
                    failures, failing = 0, None
                    continue
                logger.exception("handler failed; the batch will be delivered again")
                await batch.rewind()
                await pause(stop, policy.delay(failures))
                continue
            failures, failing = 0, None
            # the commit's round trip overlaps the next fetch; commits still land in order
            await _settled(committing)
            committing = batch.start_commit()
    finally:
        await _settled(committing)


async def _settled(committing: asyncio.Task[bool] | None) -> None:
    """Wait for an in-flight commit (its failure is the loop's, as an awaited one was)."""
    if committing is not None:
        await committing


async def _one_by_one(
    driver: ConsumerDriver,
    sink: DeadLetterSink,
    batch: Batch,
    handler: Callable[[Batch], Awaitable[None]],
    *,
    policy: RetryPolicy,
    stop: asyncio.Event,
) -> None:
    """Handle each message of a failing batch alone; dead-letter the ones that keep
    failing. Offsets move past each message as soon as it is handled."""
    for message in batch.messages:
        tp = message.record.topic_partition
        attempts = 0
        while True:
            single = Batch(driver, [message], next_offsets={tp: message.offset + 1})
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
                    letter = dead_letter_record(
                        message.record, reason=reason[:4096], code="consumer.handler_failed",
                        group=driver.group, dlq_topic=sink.topics.dlq,
                    )  # fmt: skip
                    await sink.publish_raw_batch([letter])
                    await driver.commit({tp: message.offset + 1})
                    break
                await pause(stop, policy.delay(max(attempts, 1)))
                continue
            await driver.commit({tp: message.offset + 1})
            break
    await batch.commit()  # past the batch's dead-lettered undecodable records too
