"""The batch loop fetches the next batch while the last one's commit is in flight, and
still commits in order: a commit starts only after the one before it ended."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tideflow.bus import Batch, InMemoryBus, Topics, new_envelope, pb

pytestmark = pytest.mark.unit

COUNT = 6


def _envelope(message_id: str) -> pb.Envelope:
    return new_envelope(
        pb.Cancel(command_id=message_id, run_id="r"), tenant_id="t", run_id="r",
        message_id=message_id,
    )  # fmt: skip


async def test_the_next_batch_is_handled_during_the_commit_and_commits_stay_in_order() -> None:
    bus = InMemoryBus(topics=Topics(prefix="overlap"), default_partitions=1)
    log: list[str] = []
    stop = asyncio.Event()
    async with bus:
        consumer = bus.consumer([bus.topics.runs], group="g", max_batch=1)
        await consumer.start()
        driver = consumer.driver
        commit = driver.commit

        async def slow_commit(offsets: Any) -> bool:
            (offset,) = offsets.values()
            log.append(f"commit {offset} begins")
            await asyncio.sleep(0.05)  # a broker round trip
            done = await commit(offsets)
            log.append(f"commit {offset} ends")
            return done

        driver.commit = slow_commit  # type: ignore[method-assign]

        async def handler(batch: Batch) -> None:
            (message,) = list(batch)
            n = int(message.envelope.message_id)
            log.append(f"handle {n}")
            if n + 1 < COUNT:
                await bus.publish(bus.topics.runs, "r", _envelope(str(n + 1)))
            else:
                stop.set()

        await bus.publish(bus.topics.runs, "r", _envelope("0"))
        await asyncio.wait_for(consumer.run(handler, stop=stop), 10)
        await consumer.close()
    for n in range(1, COUNT):
        # batch n was handled before the commit of batch n - 1 (offset n) ended ...
        assert log.index(f"handle {n}") < log.index(f"commit {n} ends")
    for n in range(1, COUNT):
        # ... and no commit began before the one before it ended
        assert log.index(f"commit {n} ends") < log.index(f"commit {n + 1} begins")
    assert log[-1] == f"commit {COUNT} ends"  # the last one is awaited, not dropped
