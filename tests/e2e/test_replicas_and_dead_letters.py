"""Poison and orphan commands go to the dead-letter topic; two schedulers share the work."""

from __future__ import annotations

import asyncio
import collections
import uuid
from pathlib import Path

import pytest

from tideflow.bus import RawOutgoing, payload_of, pb
from tideflow.core import Signal
from tideflow.wire import command_envelope

from ..harness import chain
from .conftest import Stack
from .stack import Service, stack_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def dead_letters(stack: Stack, count: int, timeout: float = 30) -> list[pb.DeadLetter]:
    bus = stack.client.bus
    consumer = bus.consumer([bus.topics.dlq], group=f"dlq-reader-{uuid.uuid4().hex[:6]}")
    found: list[pb.DeadLetter] = []
    async with consumer:
        async with asyncio.timeout(timeout):
            while len(found) < count:
                batch = await consumer.next_batch()
                if batch is None:
                    continue
                found += [payload_of(m.envelope) for m in batch]  # type: ignore[misc]
                await batch.commit()
    return found


async def test_poison_and_unknown_runs_are_dead_lettered_and_the_partition_flows(
    stack: Stack,
) -> None:
    client = stack.client
    await client.publish_workflow(chain("after-poison", 2))
    orphan = str(uuid.uuid4())
    key = orphan.encode()
    # Same key, so all three land on one partition, in this order.
    await client.bus.publish_raw_batch([RawOutgoing(client.bus.topics.runs, key, b"\x00garbage")])
    signal = Signal(command_id="s-orphan", run_id=orphan, name="go")
    await client.bus.publish(client.bus.topics.runs, orphan,
                             command_envelope(signal, tenant_id="default"))  # fmt: skip
    after = await client.start("after-poison", 1)
    records = await client.wait([after], timeout=60)
    assert records[after].output == 3
    letters = await dead_letters(stack, 2)
    reasons = {letter.error_code: letter for letter in letters}
    assert set(reasons) == {"bus.decode.invalid_protobuf", "scheduler.unknown_run"}
    assert reasons["bus.decode.invalid_protobuf"].original_value == b"\x00garbage"
    assert orphan in reasons["scheduler.unknown_run"].reason


async def test_two_schedulers_share_partitions_through_a_rebalance(
    stack: Stack, fresh_dsn: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    client = stack.client
    prefix = client.bus.topics.prefix
    second = Service("scheduler", [], stack_env(fresh_dsn, kafka_bootstrap, prefix),
                     tmp_path / "second")  # fmt: skip
    second.logs.mkdir()
    second.start()
    await second.healthy()
    await client.publish_workflow(chain("shared", 10, task="slow_inc"))
    first_half = await asyncio.gather(*(client.start("shared", i) for i in range(100)))
    await asyncio.sleep(1.0)
    assert second.stop() == 0  # graceful leave mid-run: its partitions move to the first
    second_half = await asyncio.gather(*(client.start("shared", i) for i in range(100, 200)))
    run_ids = [*first_half, *second_half]
    records = await client.wait(run_ids, timeout=180)
    assert [records[r].output for r in run_ids] == [i + 10 for i in range(200)]
    for run_id in run_ids:
        events = await client.store.read(run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        steps = collections.Counter(e.data["step"] for e in events if e.type == "StepSucceeded")
        assert steps == {f"s{i}": 1 for i in range(10)}
