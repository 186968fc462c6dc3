"""What the API answers, as typed models (camelCase on the wire, snake_case in Python).

They mirror the gateway's and the approval service's response schemas (a contract test
compares the fields); unknown fields are kept rather than refused, so an older client
keeps working against a newer server and `to_json()` gives back what the server sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "compensated"})


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_json(self) -> dict[str, Any]:
        """The document as the API sent it (camelCase keys, ISO times)."""
        return self.model_dump(mode="json", by_alias=True)


class Page(ApiModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    """Pass as `cursor` for the next page; None on the last."""


class WorkflowSummary(ApiModel):
    id: str
    latest_version: int | None = None
    archived: bool = False
    revision: int = 0
    created_at: datetime
    updated_at: datetime


class Workflow(WorkflowSummary):
    definition: dict[str, Any]
    """The editable draft."""


class WorkflowVersion(ApiModel):
    workflow_id: str
    version: int
    published_at: datetime
    published_by: str | None = None
    rollback_of: int | None = None
    definition: dict[str, Any] | None = None


class VersionList(ApiModel):
    items: list[WorkflowVersion]
    """Newest first."""


class Published(ApiModel):
    workflow_id: str
    version: int
    created: bool = True
    """False when the draft equals the newest version, which is returned as is."""


class Applied(ApiModel):
    """What `workflows.apply` did: created, updated or left (`unchanged`) the draft, and
    maybe published."""

    workflow: Workflow
    action: Literal["created", "updated", "unchanged"]
    published: Published | None = None


class StepView(ApiModel):
    node_id: str
    status: str
    attempt: int
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: dict[str, Any] | None = None
    output: Any = None
    child_run_id: str | None = None


class Run(ApiModel):
    run_id: str
    workflow_id: str
    version: int
    status: str
    """pending | running | waiting | succeeded | failed | cancelled | compensated"""
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    parent_run_id: str | None = None
    replay_of: str | None = None
    idempotency_key: str | None = None
    last_seq: int = 0
    steps: list[StepView] = Field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def step(self, node_id: str) -> StepView | None:
        return next((s for s in self.steps if s.node_id == node_id), None)


class RunSummary(ApiModel):
    run_id: str
    workflow_id: str
    version: int
    status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    parent_run_id: str | None = None
    replay_of: str | None = None


class RunState(Run):
    """The run as it was right after event `at_seq` (time travel)."""

    at_seq: int
    vars: dict[str, Any] = Field(default_factory=dict)


class Event(ApiModel):
    seq: int
    type: str
    data: dict[str, Any]
    recorded_at: datetime


class EventPage(ApiModel):
    items: list[Event]
    next_after_seq: int | None = None
    """Pass as `after_seq` for more; None when none are left."""


class Accepted(ApiModel):
    run_id: str
    command_id: str
    accepted: bool = True


class Problem(ApiModel):
    code: str
    path: str
    message: str
    node: str | None = None


class ValidationResult(ApiModel):
    valid: bool
    problems: list[Problem]


class Vote(ApiModel):
    by: str
    decision: Literal["approve", "reject"]
    comment: str | None = None
    decided_at: datetime


class Approval(ApiModel):
    id: str
    run_id: str
    node_id: str
    workflow_id: str
    title: str | None = None
    description: str | None = None
    assignees: list[str] = Field(default_factory=list)
    role: str | None = None
    quorum: int = 1
    decisions: list[Vote] = Field(default_factory=list)
    requested_at: datetime
    expires_at: datetime | None = None
    status: str
    """pending | decided | expired | cancelled"""
    decision: Literal["approve", "reject"] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    on_timeout: str | None = None
