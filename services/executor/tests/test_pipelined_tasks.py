"""The executor does not hold quick tasks behind a long one of the same partition.

In-process, on the in-memory bus: one 5 s task and 50 quick ones of the same run (hence
the same partition). The quick results must all be published while the long task is still
running; the partition's committed offset must stay at the long task until it finishes;
and stopping lets the long task finish and commits everything.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import pytest

from tideflow.bus import (
    Bus,
    InMemoryBus,
    Outgoing,
    TopicPartition,
    dump_json,
    new_envelope,
    partition_for,
    payload_of,
    pb,
)
from tideflow.executor.app import group_for, run_executor
from tideflow.executor.settings import ExecutorSettings
from tideflow.sdk import TaskRegistry

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

RUN = "run-pipelined"
QUICK = 50
DEADLINE = 20.0


def task_message(bus: Bus, node_id: str, name: str) -> Outgoing:
    task = pb.Task(
        run_id=RUN, node_id=node_id, attempt=1, node_type="function", queue="default",
        config_json=dump_json({"name": name, "input": {"node": node_id}}),
        definition_node_id=node_id,
    )  # fmt: skip
    envelope = new_envelope(
        task, tenant_id="tenant-1", run_id=RUN, message_id=f"{RUN}:{node_id}:1:task"
    )
    return Outgoing(bus.topics.tasks("default"), RUN, envelope)


class Results:
    """StepResults on the runs topic, as the scheduler would receive them."""

    def __init__(self) -> None:
        self.nodes: list[str] = []
        self.changed = asyncio.Event()

    async def follow(self, bus: Bus, stop: asyncio.Event) -> None:
        async with bus.consumer([bus.topics.runs], group="observer") as consumer:
            while not stop.is_set():
                batch = await consumer.next_batch(max_wait=timedelta(milliseconds=50))
                if batch is None:
                    continue
                for message in batch:
                    result = payload_of(message.envelope)
                    assert isinstance(result, pb.StepResult)
                    assert result.HasField("success"), result
                    self.nodes.append(result.node_id)
                self.changed.set()
                await batch.commit()

    async def until(self, condition: Any, what: str) -> None:
        loop = asyncio.get_running_loop()
        limit = loop.time() + DEADLINE
        while not condition():
            remaining = limit - loop.time()
            assert remaining > 0, f"timed out waiting for {what}: {len(self.nodes)} results"
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.1))


async def test_quick_tasks_finish_while_a_long_one_of_the_same_partition_runs() -> None:
    bus = InMemoryBus()
    await bus.start()
    registry = TaskRegistry()
    long_started, release, long_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @registry.task("long")
    async def long_task(value: Any) -> Any:
        long_started.set()
        # a long call, until the test ends it (its own 5 s once ran out while a loaded
        # machine was still on the quick tasks, and the test then said they had waited)
        await release.wait()
        long_done.set()
        return value

    @registry.task("quick")
    async def quick_task(value: Any) -> Any:
        return value

    stop, stop_results = asyncio.Event(), asyncio.Event()
    results = Results()
    following = asyncio.create_task(results.follow(bus, stop_results))
    settings = ExecutorSettings(queues=["default"], concurrency=8)
    executor = asyncio.create_task(
        run_executor(settings=settings, bus=bus, stop=stop, registry=registry, serve_health=False)
    )
    try:
        messages = [task_message(bus, "long", "long")]
        messages += [task_message(bus, f"quick-{n}", "quick") for n in range(QUICK)]
        await bus.publish_batch(messages)
        topic = bus.topics.tasks("default")
        tp = TopicPartition(topic, partition_for(RUN.encode(), bus.partitions(topic), 0))
        await results.until(lambda: len(results.nodes) == QUICK, "every quick result")
        assert long_started.is_set()
        assert not long_done.is_set(), "the quick tasks waited for the long one"
        assert "long" not in results.nodes
        # at-least-once: nothing past the unfinished long task (offset 0) is committed
        assert bus.committed(group_for("default")).get(tp, 0) == 0

        stop.set()  # graceful: no more fetching, the running attempt may finish
        release.set()
        await asyncio.wait_for(executor, DEADLINE)
        await results.until(lambda: "long" in results.nodes, "the long result")
        assert sorted(results.nodes) == sorted(["long", *(f"quick-{n}" for n in range(QUICK))])
        assert bus.committed(group_for("default")) == {tp: QUICK + 1}
    finally:
        stop.set()
        stop_results.set()
        release.set()
        await asyncio.gather(executor, following, return_exceptions=True)
        await bus.close()
