"""`transform`: evaluate a JSON value with templates; the result is the step output."""

from __future__ import annotations

from typing import Any

from tideflow.core._templates import render
from tideflow.core.nodes._base import Execution, InlineOutcome, NodeConfig, NodeType


class TransformConfig(NodeConfig):
    """`value` is any JSON; strings may hold `{{ }}` templates."""

    value: Any


def _evaluate(config: dict[str, Any], context: dict[str, Any]) -> InlineOutcome:
    return InlineOutcome(output=render(config.get("value"), context).value)


NODE_TYPE = NodeType(
    name="transform",
    execution=Execution.INLINE,
    config_model=TransformConfig,
    description="Build a value from the input and earlier outputs.",
    evaluate=_evaluate,
)
