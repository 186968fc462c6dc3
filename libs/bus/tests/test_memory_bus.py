"""In-memory specifics the shared contract cannot provoke on a real broker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from tideflow.bus import (
    BusError,
    InMemoryBus,
    RawOutgoing,
    TopicPartition,
    Topics,
    new_envelope,
    pb,
)

pytestmark = pytest.mark.unit


class FlakyDlqBus(InMemoryBus):
    """Refuses the first dead-letter send, like a broker that is briefly unavailable."""

    def __init__(self) -> None:
        super().__init__(topics=Topics(prefix="flaky"), default_partitions=1)
        self.refusals = 1

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        if self.refusals and any(r.topic == self.topics.dlq for r in records):
            self.refusals -= 1
            raise BusError("dlq unavailable")
        await super().publish_raw_batch(records)


async def test_records_are_fetched_again_when_dead_lettering_fails() -> None:
    bus = FlakyDlqBus()
    async with bus:
        good = new_envelope(pb.Cancel(run_id="r"), tenant_id="t", run_id="r")
        await bus.publish_raw_batch([RawOutgoing(bus.topics.runs, b"r", b"\xff junk")])
        await bus.publish(bus.topics.runs, "r", good)
        async with bus.consumer([bus.topics.runs], group="g") as consumer:
            with pytest.raises(BusError, match="dlq unavailable"):
                await consumer.next_batch(max_wait=timedelta(milliseconds=50))
            batch = await consumer.next_batch(max_wait=timedelta(milliseconds=50))
            assert batch is not None
            assert [m.envelope for m in batch] == [good]
            assert batch.dead_lettered == 1
            assert await batch.commit()
        assert bus.committed("g") == {TopicPartition(bus.topics.runs, 0): 2}
        async with bus.consumer([bus.topics.dlq], group="ops") as dlq:
            letters = await dlq.next_batch(max_wait=timedelta(milliseconds=50))
            assert letters is not None
            assert len(letters) == 1


async def test_partitions_follow_membership_and_unkeyed_records_spread() -> None:
    bus = InMemoryBus(topics=Topics(prefix="m"), default_partitions=3)
    async with bus:
        await bus.publish_raw_batch([RawOutgoing(bus.topics.events, None, b"x") for _ in range(6)])
        assert bus.partitions(bus.topics.events) == 3
        a = bus.consumer([bus.topics.events], group="g")
        b = bus.consumer([bus.topics.events], group="g")
        await a.start()
        assert len(a.assignment()) == 3
        await b.start()
        assert len(a.assignment()) + len(b.assignment()) == 3
        assert not a.assignment() & b.assignment()
        await b.close()
        assert len(a.assignment()) == 3
        await a.close()
        assert a.assignment() == frozenset()
