"""Committed offsets linger a little for company before the journal writes them alone."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta

import pytest

from tideflow.bus import Consumer, InMemoryBus, RawOutgoing, Record, TopicPartition, Topics
from tideflow.bus._journal import JournalState
from tideflow.bus._memory import OFFSETS_LINGER

pytestmark = pytest.mark.unit


class RecordingJournal:
    """A journal that keeps nothing but the writes it was asked for."""

    def __init__(self) -> None:
        self.writes: list[tuple[int, dict[tuple[str, TopicPartition], int], bool]] = []

    async def open(self) -> JournalState:
        return JournalState()

    async def write(
        self,
        *,
        topics: Mapping[str, int],
        records: Sequence[Record],
        commits: Mapping[tuple[str, TopicPartition], int],
        durable: bool = True,
    ) -> None:
        self.writes.append((len(records), dict(commits), durable))

    async def records_from(self, ends: Mapping[TopicPartition, int]) -> list[Record]:
        return []

    async def prune(self, floors: Mapping[TopicPartition, int]) -> None:
        pass

    async def expire_offsets(self, *, keep: Collection[str], idle: timedelta) -> None:
        pass

    async def close(self) -> None:
        pass


async def _until(condition: object, within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def _reading(journal: RecordingJournal, groups: int) -> tuple[InMemoryBus, list[Consumer]]:
    """A started, journaled bus with one record on `t`, read by `groups` groups; the
    journal's record of writes starts empty after it."""
    bus = InMemoryBus(topics=Topics(prefix="linger"), default_partitions=1, journal=journal)
    await bus.start()
    consumers = [bus.consumer(["t"], group=f"g{n}") for n in range(groups)]
    for consumer in consumers:
        await consumer.start()
    await bus.publish_raw_batch([RawOutgoing("t", b"k", b"v")])
    await bus.flush()
    journal.writes.clear()
    return bus, consumers


async def test_commits_of_several_groups_share_one_lazy_write() -> None:
    journal = RecordingJournal()
    bus, consumers = await _reading(journal, 3)
    tp = TopicPartition("t", 0)
    for consumer in consumers:  # three batches committed one after another
        assert await consumer.commit({tp: 1})
        await asyncio.sleep(OFFSETS_LINGER / 10)
    await _until(lambda: len(journal.writes) >= 1)
    await asyncio.sleep(OFFSETS_LINGER * 2)
    assert journal.writes == [(0, {(f"g{n}", tp): 1 for n in range(3)}, False)]
    await bus.close()


async def test_a_publish_takes_waiting_commits_along_at_once() -> None:
    journal = RecordingJournal()
    bus, (consumer,) = await _reading(journal, 1)
    tp = TopicPartition("t", 0)
    assert await consumer.commit({tp: 1})
    began = asyncio.get_running_loop().time()
    await bus.publish_raw_batch([RawOutgoing("t", b"k", b"w")])  # does not wait the linger
    assert asyncio.get_running_loop().time() - began < OFFSETS_LINGER
    assert journal.writes == [(1, {("g0", tp): 1}, True)]
    await bus.close()


async def test_closing_writes_lingering_commits() -> None:
    journal = RecordingJournal()
    bus, (consumer,) = await _reading(journal, 1)
    tp = TopicPartition("t", 0)
    assert await consumer.commit({tp: 1})
    began = asyncio.get_running_loop().time()
    await bus.close()  # at once: the lingering commits are written on the way out
    assert asyncio.get_running_loop().time() - began < 5
    assert journal.writes[-1][1] == {("g0", tp): 1}


async def test_a_bus_started_again_after_closing_writes_again() -> None:
    journal = RecordingJournal()
    bus = InMemoryBus(topics=Topics(prefix="linger"), default_partitions=1, journal=journal)
    await bus.start()
    await bus.close()
    await bus.start()
    await bus.publish_raw_batch([RawOutgoing("t", b"k", b"v")])  # would wait for ever
    assert journal.writes[-1][0] == 1
    await bus.close()
