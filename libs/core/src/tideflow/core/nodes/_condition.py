"""`condition`: a CEL boolean; outgoing edges carry `when: "true"` or `when: "false"`."""

from __future__ import annotations

from typing import Any

from tideflow.core._cel import evaluate_expression
from tideflow.core._errors import ExpressionError
from tideflow.core.nodes._base import Execution, InlineOutcome, NodeConfig, NodeType


class ConditionConfig(NodeConfig):
    """`expr` is a bare CEL expression (no `{{ }}`) that must yield a bool."""

    expr: str


def _evaluate(config: dict[str, Any], context: dict[str, Any]) -> InlineOutcome:
    source = config["expr"]
    result = evaluate_expression(source, context)
    if not isinstance(result, bool):
        raise ExpressionError(
            f"condition must yield a bool, got {type(result).__name__}", expression=source
        )
    return InlineOutcome(output={"result": result})


def _branch(output: Any, when: str, _all: frozenset[str]) -> bool:
    return bool(output["result"]) == (when == "true")


NODE_TYPE = NodeType(
    name="condition",
    execution=Execution.INLINE,
    config_model=ConditionConfig,
    description="Branch on a boolean expression.",
    cel_fields=("expr",),
    evaluate=_evaluate,
    branch=_branch,
    when_values=lambda: frozenset({"true", "false"}),
)
