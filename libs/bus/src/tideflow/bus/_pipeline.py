"""Pipelined consumption: keep fetching while earlier messages are still being handled.

A consumption strategy over a `ConsumerDriver`, like `_batch_loop` (neither depends on the
other, nor on `Consumer`); the executor consumes this way. The batch loop finishes a batch
before it fetches the next, so one slow message holds back everything behind it. Here
every message gets its own handler task as soon as it is fetched, and offsets are
committed per partition strictly in fetch order: a partition's committed offset only moves
up to its first message whose handler has not finished, so at-least-once holds (a crash
redelivers that message and everything after it, finished or not). The number of running
handlers is bounded by `max_in_flight` and the number of fetched-but-uncommitted messages
by `max_uncommitted`; the fetch pauses at either bound.

A handler that raises rewinds its partition to the failed message: the handlers of the
later messages of that partition are cancelled, and the failed message and everything
after it are fetched again (earlier messages still running keep running, so the rewind
lands on the first uncommitted offset once they finish). A partition revoked by a
rebalance (the driver bumps its epoch) is forgotten at once: handlers still running for
it finish, but nothing they complete is committed by this member, whose successor starts
from the group's committed offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING

from tideflow.bus._batch import fetch_batch

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tideflow.bus._batch import Batch, DeadLetterSink
    from tideflow.bus._driver import ConsumerDriver
    from tideflow.bus._records import Message, TopicPartition

logger = logging.getLogger("tideflow.bus")

_IDLE = timedelta(milliseconds=100)


class _Partition:
    """What this member fetched from one partition and has not committed yet."""

    __slots__ = ("committed", "done", "end", "epoch", "offsets", "running")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.offsets: deque[int] = deque()  # fetched, uncommitted messages in offset order
        self.done: set[int] = set()
        self.running: dict[int, asyncio.Task[None]] = {}
        self.end = -1  # the offset after the last record fetched (poison records included)
        self.committed = -1

    def commit_point(self) -> int:
        """The offset to commit: the first unfinished message, or past everything."""
        while self.offsets and self.offsets[0] in self.done:
            self.done.discard(self.offsets.popleft())
        return self.offsets[0] if self.offsets else self.end


class Pipeline:
    """One `Consumer.run_pipelined()` call: the fetch loop, the handler tasks, the commits."""

    def __init__(
        self,
        driver: ConsumerDriver,
        sink: DeadLetterSink,
        handler: Callable[[Message], Awaitable[None]],
        *,
        raw: bool = False,
        max_in_flight: int,
        max_uncommitted: int,
        retry_delay: timedelta,
        drain_timeout: timedelta,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if max_uncommitted < max_in_flight:
            raise ValueError("max_uncommitted must be at least max_in_flight")
        self._driver = driver
        self._sink = sink
        self._raw = raw
        self._handler = handler
        self._max_in_flight = max_in_flight
        self._max_uncommitted = max_uncommitted
        self._retry_delay = retry_delay
        self._drain_timeout = drain_timeout
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # every handler still running
        self._failed: dict[TopicPartition, tuple[_Partition, int]] = {}
        self._dirty = asyncio.Event()
        self._progress = asyncio.Event()
        self._commit_lock = asyncio.Lock()  # one commit at a time, so offsets never regress

    async def run(self, stop: asyncio.Event) -> None:
        committer = asyncio.create_task(self._commit_loop(), name="bus-pipeline-commits")
        try:
            while not stop.is_set() and not self._driver.closed:
                if self._failed:
                    await self._rewind_failed()
                    await _wait(stop, self._retry_delay)
                    continue
                self._forget_revoked()
                room = self._room()
                if room <= 0:
                    self._progress.clear()
                    await _wait(stop, _IDLE, self._progress)
                    continue
                batch = await fetch_batch(
                    self._driver, self._sink, _IDLE, limit=room, raw=self._raw
                )
                if batch is not None:
                    self._start(batch)
            await self._drain()
        finally:
            for task in list(self._tasks):
                task.cancel()
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer
        await self._flush()

    def _room(self) -> int:
        uncommitted = sum(len(p.offsets) for p in self._partitions.values())
        return min(self._max_in_flight - len(self._tasks), self._max_uncommitted - uncommitted)

    def _start(self, batch: Batch) -> None:
        for tp, end in batch.next_offsets.items():
            partition = self._partitions.get(tp)
            first = batch.first_offsets.get(tp, end - 1)
            epoch = self._driver.epoch(tp)
            if partition is None or partition.epoch != epoch or first < partition.end:
                # new, reassigned or read again from an earlier offset: track it afresh
                partition = self._partitions[tp] = _Partition(epoch)
            partition.end = end
        for message in batch.messages:
            tp = message.record.topic_partition
            partition = self._partitions[tp]
            partition.offsets.append(message.offset)
            task = asyncio.create_task(self._handle(message))
            partition.running[message.offset] = task
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, tp, partition, message.offset))
        self._dirty.set()  # poison-only partitions can move on at once

    async def _handle(self, message: Message) -> None:
        await self._handler(message)

    def _finished(
        self, tp: TopicPartition, partition: _Partition, offset: int, task: asyncio.Task[None]
    ) -> None:
        self._tasks.discard(task)
        self._progress.set()
        if self._partitions.get(tp) is not partition or partition.running.get(offset) is not task:
            return  # revoked, or dropped by a rewind: nothing of it is committed here
        del partition.running[offset]
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                logger.error(
                    "handler failed on %s[%d]@%d; the partition is rewound",
                    tp.topic, tp.partition, offset, exc_info=task.exception(),
                )  # fmt: skip
            earlier = self._failed.get(tp)
            if earlier is None or earlier[0] is not partition or earlier[1] > offset:
                self._failed[tp] = (partition, offset)
            return
        partition.done.add(offset)
        self._dirty.set()

    async def _rewind_failed(self) -> None:
        """Drop each failed message and everything after it on its partition, fetch them
        again; the messages before it stay in flight and keep their place in the order."""
        failed, self._failed = self._failed, {}
        seek: dict[TopicPartition, int] = {}
        for tp, (partition, offset) in failed.items():
            if self._partitions.get(tp) is not partition:
                continue
            for later, task in list(partition.running.items()):
                if later > offset:
                    del partition.running[later]
                    task.cancel()
            while partition.offsets and partition.offsets[-1] >= offset:
                partition.done.discard(partition.offsets.pop())
            partition.end = offset
            seek[tp] = offset
        await self._flush()  # what finished before the failure is committed
        await self._driver.seek(seek)

    def _forget_revoked(self) -> None:
        for tp, partition in list(self._partitions.items()):
            if partition.epoch != self._driver.epoch(tp):
                del self._partitions[tp]

    async def _drain(self) -> None:
        """Stopping: fetch no more, give running handlers a bounded time to finish."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self._drain_timeout.total_seconds())

    async def _commit_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._flush()
            except Exception:
                logger.exception("committing offsets failed; retrying")
                await asyncio.sleep(self._retry_delay.total_seconds())
                self._dirty.set()

    async def _flush(self) -> None:
        """Commit every partition whose first unfinished offset moved, if still owned."""
        async with self._commit_lock:
            partitions = dict(self._partitions)
            offsets: dict[TopicPartition, int] = {}
            for tp, partition in partitions.items():
                point = partition.commit_point()
                current = partition.epoch == self._driver.epoch(tp)
                if current and point > partition.committed:
                    offsets[tp] = point
            if not offsets:
                return
            await self._driver.commit(offsets)  # it checks ownership too
            for tp, point in offsets.items():
                partitions[tp].committed = point


async def _wait(stop: asyncio.Event, longest: timedelta, *others: asyncio.Event) -> None:
    """Until `stop` (or another event) is set, at most `longest`."""
    waits = [asyncio.ensure_future(e.wait()) for e in (stop, *others)]
    try:
        await asyncio.wait(waits, timeout=longest.total_seconds(), return_when="FIRST_COMPLETED")
    finally:
        for w in waits:
            w.cancel()
