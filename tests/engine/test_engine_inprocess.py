"""The scheduler and executor run workflows end to end on Postgres and the in-process bus."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tideflow.core import event_from_record
from tideflow.sdk import NonRetryableError
from tideflow.store import NotFound

from ..harness import chain
from .conftest import Engine

pytestmark = pytest.mark.integration


async def test_inline_workflow_succeeds_with_its_output(engine: Engine) -> None:
    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "hello"},
        "spec": {
            "nodes": [{"id": "greet", "type": "transform",
                       "config": {"value": "Hello, {{ input.name }}!"}}],
            "output": "{{ nodes.greet.output }}",
        },
    })  # fmt: skip
    run_id = await engine.start("hello", {"name": "Ada"})
    record = (await engine.wait([run_id]))[run_id]
    assert (record.status, record.output) == ("succeeded", "Hello, Ada!")


async def test_function_chain_runs_every_step_once(engine: Engine) -> None:
    calls: list[int] = []

    @engine.registry.task("inc")
    def inc(value: int) -> int:
        calls.append(value)
        return value + 1

    await engine.publish_workflow(chain("chain5", 5))
    run_ids = [await engine.start("chain5", i * 100) for i in range(20)]
    records = await engine.wait(run_ids)
    assert sorted(r.output for r in records.values()) == [i * 100 + 5 for i in range(20)]
    assert len(calls) == 100
    events = await engine.store.read(run_ids[0])
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[0] == "RunStarted"
    assert types[-1] == "RunSucceeded"
    assert types.count("StepSucceeded") == 5
    steps = await engine.store.get_steps(run_ids[0])
    assert {s.status for s in steps} == {"succeeded"}


async def test_retries_then_fails_for_good(engine: Engine) -> None:
    attempts: list[int] = []

    @engine.registry.task("flaky")
    def flaky(value: int) -> int:
        attempts.append(value)
        raise RuntimeError("still broken")

    @engine.registry.task("refuse")
    def refuse(value: int) -> int:
        raise NonRetryableError("bad input", error_type="BadInput")

    doc = chain("flaky", 1, "flaky")
    doc["spec"]["nodes"][0]["retry"] = {"maxAttempts": 3, "initialInterval": "10ms",
                                        "maxInterval": "20ms"}  # fmt: skip
    await engine.publish_workflow(doc)
    refuse_doc = chain("refuse", 1, "refuse")
    refuse_doc["spec"]["nodes"][0]["retry"] = {"maxAttempts": 5, "initialInterval": "10ms"}
    await engine.publish_workflow(refuse_doc)
    flaky_run = await engine.start("flaky", 1)
    refuse_run = await engine.start("refuse", 1)
    records = await engine.wait([flaky_run, refuse_run])
    assert records[flaky_run].status == "failed"
    assert len(attempts) == 3
    assert records[refuse_run].status == "failed"
    types = [e.type for e in await engine.store.read(refuse_run)]
    assert "StepRetryScheduled" not in types  # non-retryable: no second attempt


async def test_signal_and_cancel_reach_waiting_runs(engine: Engine) -> None:
    from tideflow.core import Cancel, Signal
    from tideflow.wire import command_envelope

    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "wait"},
        "spec": {"nodes": [{"id": "paid", "type": "signal", "config": {"name": "paid"}}],
                 "output": "{{ nodes.paid.output }}"},
    })  # fmt: skip
    signalled, cancelled = await engine.start("wait"), await engine.start("wait")

    async def waiting(run_id: str) -> None:
        while True:
            with contextlib.suppress(NotFound):
                if (await engine.store.get_run(run_id)).status == "waiting":
                    return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(asyncio.gather(waiting(signalled), waiting(cancelled)), 30)
    for command in (
        Signal(command_id="sig-1", run_id=signalled, name="paid", data={"amount": 5}),
        Cancel(command_id="cancel-1", run_id=cancelled, reason="test"),
    ):
        await engine.bus.publish(
            engine.bus.topics.runs, command.run_id, command_envelope(command, tenant_id="default")
        )
    records = await engine.wait([signalled, cancelled])
    assert (records[signalled].status, records[signalled].output) == ("succeeded", {"amount": 5})
    assert records[cancelled].status == "cancelled"


async def test_delay_is_a_durable_timer(engine: Engine) -> None:
    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "nap"},
        "spec": {"nodes": [{"id": "nap", "type": "delay", "config": {"duration": "300ms"}}]},
    })  # fmt: skip
    run_id = await engine.start("nap")
    records = await engine.wait([run_id])
    assert records[run_id].status == "succeeded"
    events = [event_from_record(e.type, e.data) for e in await engine.store.read(run_id)]
    names = [type(e).__name__ for e in events]
    assert "TimerScheduled" in names
    assert "TimerFired" in names
    assert (events[-1].at - events[0].at).total_seconds() >= 0.3


async def test_fan_out_and_join(engine: Engine) -> None:
    @engine.registry.task("one")
    def one(_: object) -> int:
        return 1

    nodes = [{"id": "start", "type": "transform", "config": {"value": 0}}]
    nodes += [{"id": f"b{i}", "type": "function", "queue": "io",
               "config": {"name": "one"}} for i in range(20)]  # fmt: skip
    total = " + ".join(f"nodes.b{i}.output" for i in range(20))
    nodes.append({"id": "sum", "type": "transform", "config": {"value": f"{{{{ {total} }}}}"}})
    edges = [{"from": "start", "to": f"b{i}"} for i in range(20)]
    edges += [{"from": f"b{i}", "to": "sum"} for i in range(20)]
    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "fan"},
        "spec": {"nodes": nodes, "edges": edges, "output": "{{ nodes.sum.output }}"},
    })  # fmt: skip
    run_ids = [await engine.start("fan") for _ in range(5)]
    records = await engine.wait(run_ids)
    assert [r.output for r in records.values()] == [20] * 5


async def test_step_timeout_and_cancellation_reach_the_worker(engine: Engine) -> None:
    from tideflow.core import Cancel
    from tideflow.wire import command_envelope

    stopped: list[str] = []
    started: list[str] = []

    @engine.registry.task("sleepy")
    async def sleepy(label: str) -> str:
        started.append(label)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.append(label)
            raise
        return label

    for name, timeout in (("slow", "200ms"), ("long", "60s")):
        await engine.publish_workflow({
            "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"nodes": [{"id": "nap", "type": "function", "timeout": timeout,
                                "retry": {"maxAttempts": 1},
                                "config": {"name": "sleepy", "input": name}}]},
        })  # fmt: skip
    timed_out = await engine.start("slow")
    cancelled = await engine.start("long")

    async def running_in_the_worker(label: str) -> None:
        while label not in started:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(running_in_the_worker("long"), 30)
    await engine.bus.publish(engine.bus.topics.runs, cancelled, command_envelope(
        Cancel(command_id="c-long", run_id=cancelled), tenant_id="default"))  # fmt: skip
    records = await engine.wait([timed_out, cancelled], timeout=30)
    assert records[timed_out].status == "failed"
    assert records[cancelled].status == "cancelled"
    deadline = asyncio.get_running_loop().time() + 10
    while "long" not in stopped and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert sorted(stopped) == ["long", "slow"]  # both attempts were stopped in the worker


async def test_a_parent_step_points_at_its_child_run(engine: Engine) -> None:
    from tideflow.core import Signal
    from tideflow.store import RunFilter
    from tideflow.wire import command_envelope

    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "kid"},
        "spec": {"nodes": [{"id": "go", "type": "signal", "config": {"name": "go"}}],
                 "output": "{{ nodes.go.output }}"},
    })  # fmt: skip
    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "mum"},
        "spec": {"nodes": [{"id": "call", "type": "subworkflow", "config": {"workflow": "kid"}}],
                 "output": "{{ nodes.call.output }}"},
    })  # fmt: skip
    parent = await engine.start("mum")

    async def child_of_waiting_step() -> str:
        while True:
            steps = await engine.store.get_steps(parent)
            if steps and steps[0].child_run_id is not None:
                return steps[0].child_run_id
            await asyncio.sleep(0.02)

    child = await asyncio.wait_for(child_of_waiting_step(), 30)

    async def children() -> list[str]:  # the child's own run row follows its start command
        while True:
            page = await engine.store.list_runs(RunFilter(parent_run_id=parent), limit=10)
            if page.runs:
                return [r.run_id for r in page.runs]
            await asyncio.sleep(0.02)

    assert await asyncio.wait_for(children(), 30) == [child]
    signal = Signal(command_id="go-1", run_id=child, name="go", data={"n": 1})
    await engine.bus.publish(
        engine.bus.topics.runs, child, command_envelope(signal, tenant_id="default")
    )
    record = (await engine.wait([parent]))[parent]
    assert (record.status, record.output) == ("succeeded", {"n": 1})
    (step,) = await engine.store.get_steps(parent)
    assert (step.status, step.child_run_id) == ("succeeded", child)
