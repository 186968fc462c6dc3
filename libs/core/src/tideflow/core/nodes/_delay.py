"""`delay`: wait a duration on a durable timer (it survives restarts; nothing sleeps)."""

from __future__ import annotations

from pydantic import field_validator

from tideflow.core._durations import parse_duration
from tideflow.core._templates import is_template
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType


class DelayConfig(NodeConfig):
    """`duration` is `30s`-style text, or a template yielding such text."""

    duration: str

    @field_validator("duration")
    @classmethod
    def _valid(cls, value: str) -> str:
        if not is_template(value):
            parse_duration(value)
        return value


NODE_TYPE = NodeType(
    name="delay",
    execution=Execution.TIMER,
    config_model=DelayConfig,
    description="Wait on a durable timer.",
)
