"""`function`: call a Python function a worker registered with `@task("name")`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tideflow.core.nodes._base import Execution, NodeConfig, NodeType


class FunctionConfig(NodeConfig):
    """`input` (any JSON with templates) is passed to the function."""

    name: str = Field(min_length=1)
    input: Any = None


NODE_TYPE = NodeType(
    name="function",
    execution=Execution.DISPATCH,
    config_model=FunctionConfig,
    description="Run a registered Python function in a worker.",
)
