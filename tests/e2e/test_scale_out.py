"""Past one machine: two schedulers and two executors on real Kafka, one of each killed
mid-load; no step is lost and none is applied twice.

Scheduler replicas own partitions of `tideflow.runs`, executor replicas partitions of
`tideflow.tasks.default`. Both pairs take a share of the load (checked on their
`/metrics`), then one scheduler and one executor are SIGKILLed while runs are in flight:
Kafka moves their partitions to the survivors (after the session timeout), which pick up
from the committed offsets. Every run must end with the right output, every step must
have succeeded exactly once in the log, and every run's `seq` must be gapless.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from ..harness import chain
from .stack import Service, stack_env

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from .conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

RUNS = 80
CHAIN = 10


async def _counter(service: Service, name: str) -> float:
    """The sum of a Prometheus counter's samples on a service's /metrics."""
    async with httpx.AsyncClient(timeout=2) as client:
        text = (await client.get(f"http://127.0.0.1:{service.port}/metrics")).text
    pattern = re.compile(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", re.MULTILINE)
    return sum(float(v) for v in pattern.findall(text))


async def _until(check: Callable[[], Awaitable[bool]], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.1)


async def test_two_schedulers_and_two_executors_survive_losing_one_of_each(
    stack: Stack, fresh_dsn: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    client = stack.client
    env = stack_env(fresh_dsn, kafka_bootstrap, client.bus.topics.prefix)
    scheduler2 = Service("scheduler", [], env, tmp_path / "scheduler2")
    executor2 = Service("executor", ["--module", "e2e_tasks", "--concurrency", "128"], env,
                        tmp_path / "executor2")  # fmt: skip
    for service in (scheduler2, executor2):
        service.logs.mkdir()
        service.start()
    try:
        await scheduler2.healthy(timeout=120)  # a loaded 2-core CI machine starts slowly
        await executor2.healthy(timeout=120)
        await client.publish_workflow(chain("scaled", CHAIN, task="slow_inc"))
        first = await asyncio.gather(*(client.start("scaled", i) for i in range(RUNS // 2)))

        async def both_pairs_busy() -> bool:
            counts = [
                await _counter(stack.scheduler, "tideflow_scheduler_commands_total"),
                await _counter(scheduler2, "tideflow_scheduler_commands_total"),
                await _counter(stack.executor, "tideflow_executor_tasks_total"),
                await _counter(executor2, "tideflow_executor_tasks_total"),
            ]
            return all(c >= 5 for c in counts)

        await _until(both_pairs_busy, "every scheduler and executor handled some work")
        scheduler2.kill()  # mid-load: batches and attempts in flight are lost with them
        executor2.kill()
        second = await asyncio.gather(*(client.start("scaled", i) for i in range(RUNS // 2, RUNS)))
        run_ids = [*first, *second]
        records = await client.wait(run_ids, timeout=120)
        assert [records[r].output for r in run_ids] == [i + CHAIN for i in range(RUNS)]
        for run_id in run_ids:
            events = await client.store.read(run_id)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            succeeded = collections.Counter(
                e.data["step"] for e in events if e.type == "StepSucceeded"
            )
            assert succeeded == {f"s{i}": 1 for i in range(CHAIN)}, run_id
    finally:
        scheduler2.kill()
        executor2.kill()
