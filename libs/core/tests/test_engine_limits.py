"""Limits the decider applies: schedule-to-start, subworkflow depth, foreach, run input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tideflow.core import (
    FireTimer,
    Limits,
    ParentLink,
    ScheduleTimer,
    StartChildRun,
    StepAccepted,
    effects,
    ids,
)
from tideflow.core.testing import EPOCH, LocalRun

pytestmark = pytest.mark.unit


def workflow(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
            "spec": {"nodes": list(nodes)}}  # fmt: skip


def fire_start_timer(run: LocalRun, step: str, attempt: int = 1) -> None:
    timer = ids.timer_id(step, "schedule_to_start", attempt)
    run.send(FireTimer(command_id=run.next_id(), run_id=run.run_id, timer_id=timer))


def step_error(run: LocalRun, step: str) -> str:
    error = run.state.steps[step].error
    assert error is not None
    return error.type


def test_a_task_no_worker_starts_fails_after_its_schedule_to_start_timeout() -> None:
    run = LocalRun(workflow({"id": "a", "type": "function", "scheduleToStartTimeout": "30s",
                             "retry": {"maxAttempts": 5}, "config": {"name": "f"}}))  # fmt: skip
    events = run.start()
    (timer,) = [e for e in effects(run.state, events) if isinstance(e, ScheduleTimer)]
    assert (timer.fire_at, timer.kind) == (EPOCH + timedelta(seconds=30), "schedule_to_start")
    assert "TimerScheduled" not in run.event_types()  # no events of its own per task
    run.now += timedelta(seconds=30)
    fire_start_timer(run, "a")
    assert step_error(run, "a") == "ScheduleToStartTimeout"
    assert run.state.steps["a"].attempt == 1  # never retried: the queue has no worker
    assert run.state.status == "failed"


def test_a_started_task_is_not_failed_by_the_timer() -> None:
    run = LocalRun(workflow({"id": "a", "type": "function", "scheduleToStartTimeout": "30s",
                             "config": {"name": "f"}}))  # fmt: skip
    run.start()
    events = run.send(StepAccepted(command_id="acc", run_id=run.run_id, step="a", attempt=1))
    assert [type(e).__name__ for e in effects(run.state, events)] == ["CancelTimer"]
    fire_start_timer(run, "a")
    assert run.state.steps["a"].status == "running"
    run.complete("a", 1)
    assert run.state.status == "succeeded"


def test_the_default_comes_from_the_run_limits() -> None:
    run = LocalRun(workflow({"id": "a", "type": "function", "config": {"name": "f"}}))
    run.start(limits=Limits(schedule_to_start=timedelta(minutes=3)))
    (scheduled,) = [e for e in run.events if type(e).__name__ == "StepScheduled"]
    assert scheduled.start_by == EPOCH + timedelta(minutes=3)  # type: ignore[attr-defined]


def test_subworkflows_nest_only_as_deep_as_the_limit() -> None:
    doc = workflow({"id": "child", "type": "subworkflow", "config": {"workflow": "w"}})
    deep = LocalRun(doc)
    deep.start(parent=ParentLink(run_id="p", step="child", attempt=1, depth=3),
               limits=Limits(subworkflow_depth=3))  # fmt: skip
    assert step_error(deep, "child") == "SubworkflowDepthExceeded"
    assert deep.state.status == "failed"
    shallow = LocalRun(doc)
    events = shallow.start(parent=ParentLink(run_id="p", step="child", attempt=1, depth=2),
                           limits=Limits(subworkflow_depth=3))  # fmt: skip
    (start,) = [e for e in effects(shallow.state, events) if isinstance(e, StartChildRun)]
    assert start.depth == 3


def foreach(items: str) -> LocalRun:
    child = {"type": "transform", "config": {"value": "{{ 'x' + string(item) }}"}}
    node = {"id": "each", "type": "foreach", "config": {"items": items, "node": child}}
    return LocalRun(workflow(node))


def test_foreach_items_and_total_output_are_limited() -> None:
    many = foreach("{{ [1, 2, 3, 4] }}")
    many.start(limits=Limits(foreach_items=3))
    assert step_error(many, "each") == "ForeachTooManyItems"
    big = foreach("{{ [1, 2, 3, 4] }}")
    big.start(limits=Limits(foreach_output_bytes=10))
    assert step_error(big, "each") == "ForeachOutputTooLarge"
    fits = foreach("{{ [1, 2] }}")
    fits.start(limits=Limits(foreach_items=3))
    assert fits.state.steps["each"].output == ["x1", "x2"]


def test_a_run_input_that_cannot_be_stored_fails_the_run() -> None:
    nested: Any = 1
    for _ in range(70):
        nested = [nested]
    run = LocalRun(workflow({"id": "t", "type": "transform", "config": {"value": 1}}))
    events = run.start(nested)
    assert run.event_types(events) == ["RunStarted", "RunFailed"]
    assert run.state.input is None
    assert run.state.error is not None
    assert run.state.error.type == "ValueTooDeep"


def test_values_assembled_from_many_templates_are_bounded_as_a_whole() -> None:
    parts = {f"k{i}": "{{ input.s }}" for i in range(5)}
    data = {"s": "x" * 300}
    inline = LocalRun(workflow({"id": "t", "type": "transform", "config": {"value": parts}}))
    inline.start(data, limits=Limits(output_bytes=1000))
    assert step_error(inline, "t") == "ValueTooLarge"
    config = LocalRun(workflow({"id": "f", "type": "function",
                                "config": {"name": "f", "input": parts}}))  # fmt: skip
    config.start(data, limits=Limits(event_bytes=1000))
    assert step_error(config, "f") == "ValueTooLarge"
    assert config.tasks() == []  # never dispatched
    doc = workflow({"id": "t", "type": "transform", "config": {"value": 1}})
    doc["spec"]["output"] = parts
    output = LocalRun(doc)
    output.start(data, limits=Limits(output_bytes=1000))
    assert output.state.status == "failed"
    assert output.state.error is not None
    assert output.state.error.type == "ValueTooLarge"
    doc = workflow({"id": "t", "type": "transform", "config": {"value": 1}})
    doc["spec"]["vars"] = parts
    started = LocalRun(doc)
    started.start(data, limits=Limits(event_bytes=1000))
    assert started.state.error is not None
    assert started.state.error.type == "ValueTooLarge"


def test_an_inline_foreach_of_many_items_nests_no_calls() -> None:
    # each inline item succeeds while the foreach is starting the next one: that must not
    # nest a call per item (700 items raised RecursionError, the StartRun was
    # dead-lettered and the run stayed pending)
    run = foreach("{{ input.items }}")
    run.start({"items": list(range(2_000))})
    run.advance(timedelta(0))  # the foreach resumes on timers due at once
    output = run.state.steps["each"].output
    assert run.state.status == "succeeded"
    assert (len(output), output[0], output[-1]) == (2_000, "x0", "x1999")
