"""The handler port: a task in, an outcome out, never an exception for expected failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One attempt of one step, as an executor receives it."""

    run_id: str
    node_id: str
    attempt: int
    node_type: str
    config: dict[str, Any]
    timeout: timedelta | None = None
    tenant_id: str = "default"
    start_by: datetime | None = None
    """Not started by then, the attempt has failed (`scheduleToStartTimeout`): skip it."""
    idempotency_key: str | None = None
    """The node's rendered `idempotencyKey`, for handlers to pass on (http: a header)."""
    poll_state: Any = None
    """Set when an earlier attempt returned `StepPending`: the state it handed back."""
    deadline: datetime | None = None
    """When the attempt times out (scheduled at + the node's timeout): an executor that
    picks it up later reports it timed out without running it, and never runs it longer."""


@dataclass(frozen=True, slots=True)
class StepSuccess:
    output: Any = None


@dataclass(frozen=True, slots=True)
class StepFailure:
    """`error_type` is matched against a node's `retry.nonRetryable` list."""

    error_type: str
    message: str
    retryable: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepPending:
    """Not done yet: an outside job runs on. The engine sets a durable timer and runs the
    node again after `after`, with `state` as the task's `poll_state`; no worker waits."""

    after: timedelta
    state: Any = None


StepOutcome = StepSuccess | StepFailure | StepPending


class NodeHandler(Protocol):
    """Runs one node type. Expected failures are returned as `StepFailure`, not raised."""

    node_type: str

    async def run(self, task: TaskSpec) -> StepOutcome: ...


class HandlerRegistry:
    """node type -> handler, for the types this executor can run."""

    def __init__(self, handlers: list[NodeHandler]) -> None:
        self._handlers = {handler.node_type: handler for handler in handlers}

    def types(self) -> list[str]:
        return sorted(self._handlers)

    async def run(self, task: TaskSpec) -> StepOutcome:
        handler = self._handlers.get(task.node_type)
        if handler is None:
            return StepFailure(
                error_type="UnsupportedNodeType",
                message=f"this executor cannot run {task.node_type!r} nodes "
                f"(it runs: {', '.join(self.types())})",
                retryable=False,
            )
        return await handler.run(task)
