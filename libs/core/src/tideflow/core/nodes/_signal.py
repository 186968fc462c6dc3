"""`signal`: wait for a named signal; its data becomes the output.

Signals that arrive before the node waits are buffered, so a fast sender never loses one.
"""

from pydantic import Field

from tideflow.core._durations import Duration
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType


class SignalConfig(NodeConfig):
    """`timeout` fails the step when no signal arrived in time."""

    name: str = Field(min_length=1)
    timeout: Duration | None = None


NODE_TYPE = NodeType(
    name="signal",
    execution=Execution.SIGNAL,
    config_model=SignalConfig,
    description="Wait for an external signal.",
)
