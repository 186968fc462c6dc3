"""`subworkflow`: start a child run and finish with its output."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tideflow.core.nodes._base import Execution, NodeConfig, NodeType


class SubworkflowConfig(NodeConfig):
    """`version` pins the child; without it the latest published version runs."""

    workflow: str = Field(min_length=1)
    version: int | None = Field(default=None, ge=1)
    input: Any = None


NODE_TYPE = NodeType(
    name="subworkflow",
    execution=Execution.CHILD,
    config_model=SubworkflowConfig,
    description="Run another workflow as a child run.",
)
