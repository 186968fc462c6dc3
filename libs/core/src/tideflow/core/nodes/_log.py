"""`log`: record a message (a template) in the run's history."""

from __future__ import annotations

from typing import Any, Literal

from tideflow.core._templates import render
from tideflow.core.nodes._base import Execution, InlineOutcome, NodeConfig, NodeType


class LogConfig(NodeConfig):
    """The message is rendered; it lands in the StepSucceeded event, not in a log file."""

    message: str
    level: Literal["debug", "info", "warning", "error"] = "info"


def _evaluate(config: dict[str, Any], context: dict[str, Any]) -> InlineOutcome:
    message = render(config["message"], context).value
    text = message if isinstance(message, str) else str(message)
    return InlineOutcome(output={"message": text, "level": config.get("level", "info")})


NODE_TYPE = NodeType(
    name="log",
    execution=Execution.INLINE,
    config_model=LogConfig,
    description="Write a message into the run history.",
    evaluate=_evaluate,
)
