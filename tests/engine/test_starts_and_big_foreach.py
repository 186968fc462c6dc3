"""Runs that cannot start end `failed` (never `pending`), and a big foreach shares the
scheduler with other runs (real Postgres, in-process bus, scheduler + executor)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from tideflow.core import Cancel, StartRun, ids, parse_definition
from tideflow.core._decider._foreach import ITEMS_PER_DECISION
from tideflow.scheduler import handlers
from tideflow.wire import command_envelope

from .conftest import Engine
from .test_hostile import dead_letters

pytestmark = pytest.mark.integration

ECHO = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "echo"},
    "spec": {"nodes": [{"id": "t", "type": "transform", "config": {"value": "{{ input }}"}}],
             "output": "{{ nodes.t.output }}"},
}  # fmt: skip


async def send_start(engine: Engine, workflow: str, run_input: Any = None) -> str:
    """A StartRun for `workflow` as a gateway or trigger sends it (version 1)."""
    run_id = str(uuid.uuid4())
    command = StartRun(
        command_id=ids.start_command_id(run_id), run_id=run_id, workflow=workflow, version=1,
        definition=parse_definition(ECHO), input=run_input,
    )  # fmt: skip
    await engine.bus.publish(
        engine.bus.topics.runs, run_id, command_envelope(command, tenant_id="default")
    )
    return run_id


async def test_a_start_of_a_workflow_that_is_not_published_fails_the_run(engine: Engine) -> None:
    await engine.publish_workflow(ECHO)
    missing = await send_start(engine, "no-such-workflow", {"a": 1})
    fine = await engine.start("echo", {"b": 2})
    records = await engine.wait([missing, fine], timeout=30)
    record = records[missing]
    assert record.status == "failed"  # not `pending` for ever
    assert record.error is not None
    assert record.error["type"] == "WorkflowNotFound"
    assert "no-such-workflow" in record.error["message"]
    assert record.ended_at is not None
    assert [e.type for e in await engine.store.read(missing)] == ["RunFailed"]
    (letter,) = await dead_letters(engine, 1)
    assert letter.error_code == "scheduler.unknown_workflow"
    assert records[fine].output == {"b": 2}
    # a later command to the closed run decides nothing; a repeated start neither
    cancel = Cancel(command_id="late-cancel", run_id=missing, reason="late")
    await engine.bus.publish(
        engine.bus.topics.runs, missing, command_envelope(cancel, tenant_id="default")
    )
    again = await engine.start("echo", {"c": 3})
    await engine.wait([again], timeout=30)
    assert [e.type for e in await engine.store.read(missing)] == ["RunFailed"]


async def test_an_unprocessable_start_fails_its_run_and_not_its_neighbours(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await engine.publish_workflow(ECHO)
    poison = str(uuid.uuid4())
    real_decide = handlers.decide

    def decide(state: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        if command.run_id == poison:
            raise RuntimeError("the decider cannot handle this start")
        return real_decide(state, command, *args, **kwargs)

    monkeypatch.setattr(handlers, "decide", decide)
    neighbours = [await engine.start("echo", {"n": i}) for i in range(3)]
    await engine.start("echo", {"poison": True}, run_id=poison)
    neighbours += [await engine.start("echo", {"n": i}) for i in range(3, 6)]
    records = await engine.wait([poison, *neighbours], timeout=60)
    assert [records[r].output for r in neighbours] == [{"n": i} for i in range(6)]
    record = records[poison]
    assert (record.status, record.error and record.error["type"]) == ("failed", "StartRejected")
    assert "the decider cannot handle this start" in record.error["message"]
    (letter,) = await dead_letters(engine, 1)
    assert letter.error_code == "scheduler.poison_command"


async def test_a_big_inline_foreach_lets_a_parallel_run_through(engine: Engine) -> None:
    """Its items are started a share per decision: a run started right after it ends
    first, not after every item (one decision used to start all 10,000)."""
    items = 3_000
    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "big"},
        "spec": {"nodes": [{"id": "each", "type": "foreach", "config": {
            "items": "{{ input.items }}", "concurrency": 1000,
            "node": {"type": "transform", "config": {"value": "{{ item + 1 }}"}}}}],
                 "output": "{{ nodes.each.output }}"},
    })  # fmt: skip
    await engine.publish_workflow(ECHO)
    big = await engine.start("big", {"items": list(range(items))})
    quick = await engine.start("echo", "quick")
    records = await engine.wait([big, quick], timeout=120)
    assert records[big].status == "succeeded"
    assert records[quick].output == "quick"
    assert records[quick].ended_at is not None
    assert records[big].ended_at is not None
    assert records[quick].ended_at < records[big].ended_at
    events = await engine.store.read(big)
    per_command = Counter(
        e.data.get("commandId") for e in events
        if e.type == "StepScheduled" and e.data.get("role") == "item"
    )  # fmt: skip
    assert sum(per_command.values()) == items
    assert max(per_command.values()) <= ITEMS_PER_DECISION
