"""`ctx.heartbeat()`: a silent attempt times out; a cancelled one stops its thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tideflow.nodes import FunctionHandler, StepFailure, StepSuccess, TaskSpec
from tideflow.sdk import TaskCancelledError, TaskContext, TaskRegistry

pytestmark = pytest.mark.unit

DEADLINE_S = 10.0


def spec(name: str, **config: object) -> TaskSpec:
    return TaskSpec(
        run_id="r1", node_id="n1", attempt=1, node_type="function",
        config={"name": name, "input": None, **config},
    )  # fmt: skip


async def test_heartbeats_keep_a_long_task_alive_and_the_latest_details_are_kept() -> None:
    registry = TaskRegistry()

    @registry.task("steady")
    def steady(_: object, ctx: TaskContext) -> int:
        for i in range(6):  # about 0.3 s in all, each gap well under the 0.2 s timeout
            ctx.heartbeat({"done": i})
            time.sleep(0.05)
        return ctx.heartbeats.count

    handler = FunctionHandler(registry=registry)
    outcome = await handler.run(spec("steady", heartbeatTimeout="200ms"))
    assert outcome == StepSuccess(6)


async def test_a_silent_sync_task_times_out_and_stops_at_its_next_heartbeat() -> None:
    registry = TaskRegistry()
    stopped = threading.Event()
    release = threading.Event()

    @registry.task("stuck")
    def stuck(_: object, ctx: TaskContext) -> None:
        ctx.heartbeat({"page": 3})
        release.wait(DEADLINE_S)  # stuck: no heartbeat while the executor watches
        try:
            ctx.heartbeat({"page": 4})
        except TaskCancelledError:
            stopped.set()
            raise

    handler = FunctionHandler(registry=registry)
    outcome = await handler.run(spec("stuck", heartbeatTimeout="100ms"))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("HeartbeatTimeout", True)
    assert outcome.details == {"heartbeats": 1, "lastHeartbeat": {"page": 3}}
    assert "no heartbeat from task 'stuck' for 0.1s" in outcome.message
    release.set()
    assert await asyncio.to_thread(stopped.wait, DEADLINE_S)


async def test_cancelling_the_attempt_cancels_its_heartbeats() -> None:
    """The executor cancels the handler (run cancelled, step timeout): the thread learns."""
    registry = TaskRegistry()
    started, stopped = threading.Event(), threading.Event()

    @registry.task("loop")
    def loop(_: object, ctx: TaskContext) -> None:
        started.set()
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            try:
                ctx.heartbeat()
            except TaskCancelledError:
                stopped.set()
                raise
            time.sleep(0.01)

    handler = FunctionHandler(registry=registry)
    attempt = asyncio.create_task(handler.run(spec("loop")))
    assert await asyncio.to_thread(started.wait, DEADLINE_S)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert await asyncio.to_thread(stopped.wait, DEADLINE_S)


async def test_a_bad_heartbeat_timeout_fails_for_good() -> None:
    registry = TaskRegistry()
    registry.register("noop", lambda _: None)
    outcome = await FunctionHandler(registry=registry).run(spec("noop", heartbeatTimeout="soon"))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("InvalidConfig", False)


def test_a_context_without_an_executor_heartbeats_freely() -> None:
    ctx = TaskContext(run_id="r", node_id="n", attempt=1)
    ctx.heartbeat("x")
    assert (ctx.heartbeats.count, ctx.heartbeats.details, ctx.cancelled) == (1, "x", False)
    ctx.heartbeats.cancel("over")
    with pytest.raises(TaskCancelledError, match="over"):
        ctx.heartbeat()
