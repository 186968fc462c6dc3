"""A cancel and a signal that overtake their runs' StartRun, on a real scheduler and
Postgres (row-level security, the `runs` row the gateway writes): the cancelled run ends
`cancelled` without a step and keeps its row's workflow and input; the signalled one
consumes its early signal once it starts."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tideflow.core import Cancel, Signal
from tideflow.store import CommitBatch, RunRecord
from tideflow.wire import command_envelope

from .conftest import Engine

pytestmark = pytest.mark.integration

WAITS = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "waits"},
    "spec": {"nodes": [{"id": "go", "type": "signal", "config": {"name": "go"}},
                       {"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}}],
             "edges": [{"from": "go", "to": "echo"}]},
}  # fmt: skip


async def test_commands_ahead_of_the_start_on_postgres(engine: Engine) -> None:
    await engine.publish_workflow(WAITS)
    cancelled, signalled = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [RunRecord(run_id=r, workflow_id="waits", version=1, status="pending", input={"n": 1})
            for r in (cancelled, signalled)]  # fmt: skip
    await engine.store.commit_batch(CommitBatch(runs=rows))  # as the gateway records them
    early = [Cancel(command_id="c-1", run_id=cancelled, reason="not needed"),
             Signal(command_id="s-1", run_id=signalled, name="go", data=7)]  # fmt: skip
    for command in early:
        await engine.bus.publish(engine.bus.topics.runs, command.run_id,
                                 command_envelope(command, tenant_id="default"))  # fmt: skip
    deadline = time.monotonic() + 30
    while (await engine.store.get_run(signalled)).last_seq < 1:
        assert time.monotonic() < deadline, "the early signal was not recorded"
        await asyncio.sleep(0.05)
    for run_id in (cancelled, signalled):
        await engine.start("waits", {"n": 1}, run_id=run_id)
    ended = await engine.wait([cancelled, signalled], timeout=30)

    assert (ended[cancelled].status, ended[cancelled].workflow_id) == ("cancelled", "waits")
    assert ended[cancelled].input == {"n": 1}
    assert [e.type for e in await engine.store.read(cancelled)] == ["RunCancelled"]
    assert await engine.store.get_steps(cancelled) == []
    assert ended[signalled].status == "succeeded"
    assert ended[signalled].output == {"echo": {"n": 1}}
