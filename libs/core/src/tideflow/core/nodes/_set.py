"""`set`: assign run variables that later nodes read as `vars.<name>`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tideflow.core._templates import render
from tideflow.core.nodes._base import Execution, InlineOutcome, NodeConfig, NodeType


class SetConfig(NodeConfig):
    """Each value is a template evaluated when the node runs."""

    vars: dict[str, Any] = Field(min_length=1)


def _evaluate(config: dict[str, Any], context: dict[str, Any]) -> InlineOutcome:
    values = render(config["vars"], context).value
    return InlineOutcome(output=values, vars=values)


NODE_TYPE = NodeType(
    name="set",
    execution=Execution.INLINE,
    config_model=SetConfig,
    description="Set run variables.",
    evaluate=_evaluate,
)
