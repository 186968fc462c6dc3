"""`approval`: wait for people to decide; the decision picks the path that follows.

Edges out of an approval may carry `when: approve` or `when: reject`; an edge without
`when` means `approve`. A rejection takes the `reject` edges when there are any, and
otherwise fails the step for good (`ApprovalRejected`). `onTimeout` says what happens
when `timeout` passes first: decide `approve` or `reject` on everyone's behalf, or `fail`
the step (`Timeout`, the default).

Who may decide is the approval service's business: the `assignees` (user names) and/or
anyone holding `role`; `quorum` approvals are needed (one rejection rejects). The node's
output is `{decision, by, comment, decidedAt, decisions: [{by, decision, comment,
decidedAt}]}`.
"""

from datetime import timedelta
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, model_validator

from tideflow.core._durations import Duration
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType

APPROVE = "approve"
REJECT = "reject"

APPROVAL_DECISION_GRACE = timedelta(seconds=5)
"""How long after an approval's deadline its timeout applies.

The approval service accepts votes until the deadline (`expiresAt`) and answers 200 once one
closes the approval; the decision reaches the run as a command published right after. A vote
accepted a moment before the deadline arrives a moment after it, and must still be what the
run does: so the timeout timer is set this much later than the deadline the API enforces.
"""


class OnTimeout(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    FAIL = "fail"


class ApprovalConfig(NodeConfig):
    """What the people deciding see, who they are, how many, and how long they have."""

    title: str | None = None
    description: str | None = None
    message: str | None = None
    """Older name of `description`, still accepted."""
    role: str | None = None
    assignees: tuple[str, ...] = ()
    quorum: int = Field(default=1, ge=1, le=100)
    timeout: Duration | None = None
    on_timeout: OnTimeout = OnTimeout.FAIL
    data: dict[str, object] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _quorum_reachable(self) -> Self:
        if self.assignees and self.role is None and self.quorum > len(set(self.assignees)):
            raise ValueError(
                f"quorum {self.quorum} cannot be reached by {len(set(self.assignees))} assignees"
            )
        return self


def decision_of(output: Any) -> str:
    """The decision an approval step's output records (`approve` unless it says reject)."""
    if isinstance(output, dict) and output.get("decision") == REJECT:
        return REJECT
    return APPROVE


def _branch(output: Any, when: str, _all: frozenset[str]) -> bool:
    return decision_of(output) == when


NODE_TYPE = NodeType(
    name="approval",
    execution=Execution.APPROVAL,
    config_model=ApprovalConfig,
    description="Pause for a human approval.",
    branch=_branch,
    when_values=lambda: frozenset({APPROVE, REJECT}),
    default_when=APPROVE,
)
