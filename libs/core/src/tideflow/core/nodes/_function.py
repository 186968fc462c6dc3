"""`function`: call a Python function a worker registered with `@task("name")`."""

from typing import Any

from pydantic import Field

from tideflow.core._durations import Duration
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType


class FunctionConfig(NodeConfig):
    """`input` (any JSON with templates) is passed to the function.

    `heartbeatTimeout`: the longest the function may go without `ctx.heartbeat()` before
    the executor fails the attempt (`HeartbeatTimeout`, retryable); unset, never.
    """

    name: str = Field(min_length=1)
    input: Any = None
    heartbeat_timeout: Duration | None = None


NODE_TYPE = NodeType(
    name="function",
    execution=Execution.DISPATCH,
    config_model=FunctionConfig,
    description="Run a registered Python function in a worker.",
)
