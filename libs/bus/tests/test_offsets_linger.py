"""Committed offsets linger a little for company before the journal writes them alone."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta

import pytest

from tideflow.bus import Consumer, InMemoryBus, RawOutgoing, Record, TopicPartition, Topics, _memory
from tideflow.bus._journal import JournalState

pytestmark = pytest.mark.unit

LINGER = 1.0
"""The linger these tests run with: the product's 50 ms is shorter than a stall of a loaded
machine (or a collection of the test process's own garbage), which split commits spaced
within it into two writes, or made a publish look as if it waited for the linger."""
FOREVER = 3600.0
"""A linger no test waits out: what happens before it ends did not wait for it."""


@pytest.fixture(autouse=True)
def _linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_memory, "OFFSETS_LINGER", LINGER)


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


async def _until(condition: object, within: float = 30.0) -> None:
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
        await asyncio.sleep(0.005)
    await _until(lambda: len(journal.writes) >= 1)
    # one write holds all three: nothing is left for a second one
    assert journal.writes == [(0, {(f"g{n}", tp): 1 for n in range(3)}, False)]
    await bus.close()


async def test_a_publish_takes_waiting_commits_along_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_memory, "OFFSETS_LINGER", FOREVER)
    journal = RecordingJournal()
    bus, (consumer,) = await _reading(journal, 1)
    tp = TopicPartition("t", 0)
    assert await consumer.commit({tp: 1})
    async with asyncio.timeout(30):  # does not wait the linger
        await bus.publish_raw_batch([RawOutgoing("t", b"k", b"w")])
    assert journal.writes == [(1, {("g0", tp): 1}, True)]
    await bus.close()


async def test_closing_writes_lingering_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_memory, "OFFSETS_LINGER", FOREVER)
    journal = RecordingJournal()
    bus, (consumer,) = await _reading(journal, 1)
    tp = TopicPartition("t", 0)
    assert await consumer.commit({tp: 1})
    async with asyncio.timeout(30):  # at once: the lingering commits are written on the way out
        await bus.close()
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
