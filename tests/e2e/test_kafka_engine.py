"""Many runs at once through separate scheduler and executor processes on real Kafka."""

from __future__ import annotations

import asyncio
import time

import pytest

from ..harness import chain, fan_out
from .conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_500_chains_of_10_steps(stack: Stack) -> None:
    client = stack.client
    await client.publish_workflow(chain("chain10", 10))
    began = time.monotonic()
    run_ids = await asyncio.gather(*(client.start("chain10", i) for i in range(500)))
    records = await client.wait(list(run_ids), timeout=300)
    elapsed = time.monotonic() - began
    print(f"500 x chain10 in {elapsed:.1f}s ({5000 / elapsed:.0f} steps/s)")  # noqa: T201
    outputs = {run_id: records[run_id].output for run_id in run_ids}
    assert [outputs[run_id] for run_id in run_ids] == [i + 10 for i in range(500)]
    assert {r.status for r in records.values()} == {"succeeded"}
    for run_id in run_ids[:20]:
        events = await client.store.read(run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert sum(e.type == "StepSucceeded" for e in events) == 10


async def test_20_fan_outs_of_50(stack: Stack) -> None:
    client = stack.client
    await client.publish_workflow(fan_out("fan50", 50))
    run_ids = await asyncio.gather(*(client.start("fan50", None) for _ in range(20)))
    records = await client.wait(list(run_ids), timeout=300)
    assert [records[r].output for r in run_ids] == [51] * 20
