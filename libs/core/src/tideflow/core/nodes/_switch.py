"""`switch`: a CEL value; edges carry `when: "<value>"`, or `when: default` for the rest."""

from __future__ import annotations

import json
from typing import Any

from tideflow.core._cel import evaluate_expression
from tideflow.core.nodes._base import Execution, InlineOutcome, NodeConfig, NodeType

DEFAULT = "default"


class SwitchConfig(NodeConfig):
    """`expr` is a bare CEL expression; its value is compared with each edge's `when` text."""

    expr: str


def as_text(value: Any) -> str:
    """How a switch value compares with `when`: strings as is, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, separators=(",", ":"))


def _evaluate(config: dict[str, Any], context: dict[str, Any]) -> InlineOutcome:
    return InlineOutcome(output={"value": evaluate_expression(config["expr"], context)})


def _branch(output: Any, when: str, all_whens: frozenset[str]) -> bool:
    text = as_text(output["value"])
    if when == DEFAULT:
        return text not in all_whens - {DEFAULT}
    return text == when


NODE_TYPE = NodeType(
    name="switch",
    execution=Execution.INLINE,
    config_model=SwitchConfig,
    description="Branch on the value of an expression.",
    cel_fields=("expr",),
    evaluate=_evaluate,
    branch=_branch,
)
