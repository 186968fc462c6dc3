"""`function` nodes: call a `@task` registered through the worker SDK."""

from __future__ import annotations

from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.sdk import TaskContext, TaskError, TaskRegistry, UnknownTaskError


class FunctionHandler:
    """Maps the SDK's errors onto step outcomes; any other exception is retryable."""

    node_type = "function"

    def __init__(self, *, registry: TaskRegistry) -> None:
        self._registry = registry

    async def run(self, task: TaskSpec) -> StepOutcome:
        name = str(task.config["name"])
        context = TaskContext(run_id=task.run_id, node_id=task.node_id, attempt=task.attempt)
        try:
            output = await self._registry.call(name, task.config.get("input"), context)
        except UnknownTaskError as e:
            # Another worker of the same queue may have it: retrying lets it pick the task up.
            return StepFailure("UnknownTask", str(e), retryable=True)
        except TaskError as e:
            return StepFailure(e.error_type, str(e), e.retryable)
        except Exception as e:  # noqa: BLE001 - user code may raise anything; it is data here
            return StepFailure(type(e).__name__, str(e) or repr(e), retryable=True)
        return StepSuccess(output)
