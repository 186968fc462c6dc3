"""`approval`: wait for a human decision; a rejection fails the step for good."""

from pydantic import Field

from tideflow.core._durations import Duration
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType


class ApprovalConfig(NodeConfig):
    """Who may decide (`role`, `assignees`), what they see, and how long they have."""

    role: str | None = None
    assignees: tuple[str, ...] = ()
    message: str | None = None
    timeout: Duration | None = None
    data: dict[str, object] = Field(default_factory=dict)


NODE_TYPE = NodeType(
    name="approval",
    execution=Execution.APPROVAL,
    config_model=ApprovalConfig,
    description="Pause for a human approval.",
)
