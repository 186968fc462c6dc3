"""The public event stream follows the log: every event, in seq order, ids `run:seq`.

The engine tests run the real scheduler; the publisher tests drive `EventPublisher` on a
real Postgres store to show where it resumes after a restart and that one replica at a
time publishes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from tideflow.bus import Bus, InMemoryBus, RawOutgoing, pb
from tideflow.scheduler.publisher import EventPublisher
from tideflow.store import APP_ROLE, CommitBatch, NewEvent, PostgresEventStore, RunRecord

from ..harness import chain

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from .conftest import Engine

pytestmark = pytest.mark.integration

POLL = timedelta(milliseconds=10)


async def published(bus: Bus, group: str, count: int, timeout: float = 30) -> list[pb.RunEvent]:
    """Read `tideflow.events` as an outside system would, until `count` messages came."""
    seen: list[pb.RunEvent] = []
    deadline = time.monotonic() + timeout
    async with bus.consumer([bus.topics.events], group=group) as consumer:
        while len(seen) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(seen)} of {count} events were published")
            batch = await consumer.next_batch(max_wait=timedelta(milliseconds=100))
            if batch is None:
                continue
            for message in batch:
                event = message.envelope.run_event
                assert message.envelope.message_id == f"{event.run_id}:{event.seq}"
                assert message.key == event.run_id
                seen.append(event)
            await batch.commit()
    return seen


def on_topic(bus: InMemoryBus) -> list[tuple[str, int]]:
    """Every (run, seq) ever written to the events topic, duplicates included."""
    records = [r for partition in bus._logs.get(bus.topics.events, []) for r in partition.records]
    out = []
    for record in records:
        envelope = pb.Envelope.FromString(record.value)
        out.append((envelope.run_event.run_id, envelope.run_event.seq))
    return out


async def test_every_event_of_every_run_is_published_in_seq_order(engine: Engine) -> None:
    @engine.registry.task("inc")
    def inc(value: int) -> int:
        return value + 1

    version = await engine.publish_workflow(chain("stream3", 3))
    run_ids = [await engine.start("stream3", i) for i in range(5)]
    await engine.wait(run_ids)
    logs = {run_id: await engine.store.read(run_id) for run_id in run_ids}
    total = sum(len(log) for log in logs.values())
    seen = await published(engine.bus, "observer", total)
    for run_id, log in logs.items():
        mine = [e for e in seen if e.run_id == run_id]
        assert [(e.seq, e.type) for e in mine] == [(e.seq, e.type) for e in log]
        assert {(e.workflow_id, e.workflow_version) for e in mine} == {("stream3", version)}
        assert mine[-1].type == "RunSucceeded"
    # Kafka acknowledges before the position commits: poll for it.
    last = max(e.position for log in logs.values() for e in log)
    deadline = time.monotonic() + 10
    while await engine.store.follower_position(engine.bus.topics.events) < last:
        assert time.monotonic() < deadline, "the publisher never saved its position"
        await asyncio.sleep(0.01)


@pytest.fixture
async def stores(fresh_dsn: str) -> AsyncIterator[list[PostgresEventStore]]:
    """Two pools on one database, as two scheduler replicas (or a restart) would have."""
    opened = [await PostgresEventStore.connect(fresh_dsn, role=APP_ROLE) for _ in range(2)]
    yield opened
    for store in opened:
        await store.close()


@pytest.fixture
async def bus() -> AsyncIterator[InMemoryBus]:
    bus = InMemoryBus()
    await bus.start()
    yield bus
    await bus.close()


async def add_runs(store: PostgresEventStore, runs: int, events_each: int, prefix: str) -> None:
    for r in range(runs):
        run_id = f"{prefix}{r}"
        await store.commit_batch(CommitBatch(runs=[RunRecord(run_id, "wf", 1, "running")]))
        await store.append(run_id, 0, [NewEvent("E", {"i": i}) for i in range(events_each)])


async def test_a_restarted_publisher_resumes_where_it_was_acknowledged(
    stores: list[PostgresEventStore], bus: InMemoryBus
) -> None:
    first, restarted = stores
    await add_runs(first, 3, 4, "a")
    before = EventPublisher(store=first, bus=bus, poll=POLL, batch=5)
    assert [await before.publish_once() for _ in range(3)] == [5, 5, 2]
    assert len(on_topic(bus)) == 12

    after = EventPublisher(store=restarted, bus=bus, poll=POLL, batch=5)
    assert await after.publish_once() == 0
    await add_runs(first, 1, 3, "b")
    assert await after.publish_once() == 3
    assert Counter(on_topic(bus)) == Counter(
        [(f"a{r}", s) for r in range(3) for s in range(1, 5)] + [("b0", s) for s in (1, 2, 3)]
    )


class AckedThenCrashed(InMemoryBus):
    """Kafka took the batch, then the process died before the position was saved."""

    calls = 0

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        await super().publish_raw_batch(records)
        self.calls += 1
        if self.calls == 2:
            raise ConnectionResetError("died after the acknowledgement")


async def test_at_most_the_unsaved_batch_is_published_again(
    stores: list[PostgresEventStore],
) -> None:
    bus = AckedThenCrashed()
    await bus.start()
    store = stores[0]
    await add_runs(store, 2, 4, "a")
    publisher = EventPublisher(store=store, bus=bus, poll=POLL, batch=3)
    assert await publisher.publish_once() == 3
    with pytest.raises(ConnectionResetError):
        await publisher.publish_once()
    assert await EventPublisher(store=stores[1], bus=bus, poll=POLL, batch=3).publish_once() == 3
    assert await publisher.publish_once() == 2
    sent = Counter(on_topic(bus))
    assert set(sent) == {(f"a{r}", s) for r in range(2) for s in range(1, 5)}
    assert sorted(key for key, n in sent.items() if n > 1) == [("a0", 4), ("a1", 1), ("a1", 2)]
    assert max(sent.values()) == 2
    await bus.close()


async def test_only_the_holder_publishes(
    stores: list[PostgresEventStore], bus: InMemoryBus
) -> None:
    await add_runs(stores[0], 2, 3, "a")
    standby = EventPublisher(store=stores[1], bus=bus, poll=POLL)
    async with stores[0].follow(bus.topics.events) as held:
        assert held is not None
        assert await standby.publish_once() is None
        assert on_topic(bus) == []
    assert await standby.publish_once() == 6


async def test_two_replicas_publish_each_event_once_between_them(
    stores: list[PostgresEventStore], bus: InMemoryBus
) -> None:
    stop = asyncio.Event()
    replicas = [EventPublisher(store=s, bus=bus, poll=POLL, batch=7) for s in stores]
    loops = [asyncio.create_task(p.run(stop)) for p in replicas]
    writers = [add_runs(stores[w], 5, 6, f"w{w}-") for w in range(2)]
    await asyncio.gather(*writers)
    expected = {(f"w{w}-{r}", s) for w in range(2) for r in range(5) for s in range(1, 7)}
    deadline = time.monotonic() + 30
    while len(on_topic(bus)) < len(expected) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*loops)
    sent = on_topic(bus)
    assert Counter(sent) == Counter(expected)
    for run_id in {run_id for run_id, _ in sent}:
        assert [s for r, s in sent if r == run_id] == [1, 2, 3, 4, 5, 6]


class CountedPublisher(EventPublisher):
    """Counts the batches it finished reading."""

    reads = 0

    async def publish_once(self) -> int | None:
        published = await super().publish_once()
        self.reads += 1
        return published


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_a_woken_publisher_publishes_at_once_and_an_idle_one_waits_for_its_poll(
    stores: list[PostgresEventStore], bus: InMemoryBus
) -> None:
    """Its replica's commits wake it; without a wake it reads again only after `poll`
    (an hour here: the test would time out)."""
    stop, wake = asyncio.Event(), asyncio.Event()
    publisher = CountedPublisher(store=stores[0], bus=bus, poll=timedelta(hours=1), wake=wake)
    loop = asyncio.create_task(publisher.run(stop))
    try:
        for round_ in range(3):
            await _until(lambda n=round_: publisher.reads == n + 1, "the publisher never read")
            await add_runs(stores[1], 2, 3, f"r{round_}-")
            await asyncio.sleep(0.2)  # time enough for a publisher that did not wait
            assert len(on_topic(bus)) == 6 * round_  # not woken: nothing read yet
            wake.set()
            await _until(lambda n=round_: len(on_topic(bus)) == 6 * (n + 1), "not woken")
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
    assert Counter(on_topic(bus)) == Counter(
        (f"r{n}-{r}", s) for n in range(3) for r in range(2) for s in range(1, 4)
    )
