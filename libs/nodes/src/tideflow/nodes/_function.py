"""`function` nodes: call a `@task` registered through the worker SDK.

The call runs as its own asyncio task so the handler can watch its heartbeats: with
`heartbeatTimeout` set, an attempt silent for longer fails with `HeartbeatTimeout`
(retryable) and carries its last heartbeat details. Whatever ends an attempt early (that
timeout, the step's timeout, a cancelled run) also cancels its `Heartbeats`, so a sync
task in its worker thread stops at its next `ctx.heartbeat()`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tideflow.core import DurationError, parse_duration
from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.sdk import Heartbeats, TaskContext, TaskError, TaskRegistry, UnknownTaskError


class _HeartbeatTimedOutError(Exception):
    pass


class FunctionHandler:
    """Maps the SDK's errors onto step outcomes; any other exception is retryable."""

    node_type = "function"

    def __init__(self, *, registry: TaskRegistry) -> None:
        self._registry = registry

    async def run(self, task: TaskSpec) -> StepOutcome:
        name = str(task.config["name"])
        try:
            heartbeat_timeout = _seconds(task.config.get("heartbeatTimeout"))
        except DurationError as e:
            return StepFailure("InvalidConfig", str(e), retryable=False)
        beats = Heartbeats()
        context = TaskContext(
            run_id=task.run_id, node_id=task.node_id, attempt=task.attempt, heartbeats=beats
        )
        call = asyncio.ensure_future(self._registry.call(name, task.config.get("input"), context))
        try:
            output = await _watched(call, beats, heartbeat_timeout)
        except asyncio.CancelledError:
            beats.cancel(f"step {task.node_id} attempt {task.attempt} was cancelled")
            call.cancel()
            raise
        except _HeartbeatTimedOutError:
            message = f"no heartbeat from task {name!r} for {heartbeat_timeout:g}s"
            details = {"heartbeats": beats.count, "lastHeartbeat": beats.details}
            return StepFailure("HeartbeatTimeout", message, retryable=True, details=details)
        except UnknownTaskError as e:
            # Another worker of the same queue may have it: retrying lets it pick the task up.
            return StepFailure("UnknownTask", str(e), retryable=True)
        except TaskError as e:
            return StepFailure(e.error_type, str(e), e.retryable)
        except Exception as e:  # noqa: BLE001 - user code may raise anything; it is data here
            return StepFailure(type(e).__name__, str(e) or repr(e), retryable=True)
        return StepSuccess(output)


async def _watched(call: asyncio.Future[Any], beats: Heartbeats, silence_s: float | None) -> Any:
    """The call's result; with a heartbeat timeout, wait only while heartbeats keep coming."""
    if silence_s is None:
        return await call
    while True:
        remaining = silence_s - beats.silent_for()
        if remaining <= 0:
            beats.cancel(f"no heartbeat for {silence_s:g}s")
            call.cancel()
            raise _HeartbeatTimedOutError
        done, _ = await asyncio.wait({call}, timeout=remaining)
        if done:
            return call.result()


def _seconds(value: Any) -> float | None:
    """`heartbeatTimeout` as the core validated it: a duration string (or seconds)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = parse_duration(str(value)).total_seconds()
    if seconds <= 0:
        raise DurationError(f"heartbeatTimeout must be positive, not {value!r}")
    return seconds
