"""Request and response bodies of the REST API (camelCase on the wire).

These models are the OpenAPI contract; route handlers translate store rows and core state
into them, so a storage change never leaks into the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

RUN_STATUSES = ("pending", "running", "waiting", "succeeded", "failed", "cancelled", "compensated")


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Page(ApiModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last."
    )


class WorkflowSummary(ApiModel):
    id: str
    latest_version: int | None
    archived: bool
    created_at: datetime
    updated_at: datetime


class Workflow(WorkflowSummary):
    definition: dict[str, Any] = Field(description="The editable draft.")


class WorkflowVersion(ApiModel):
    workflow_id: str
    version: int
    published_at: datetime
    rollback_of: int | None = None
    definition: dict[str, Any] | None = None


class Published(ApiModel):
    workflow_id: str
    version: int


class StartRunBody(ApiModel):
    input: dict[str, Any] | list[Any] | str | int | float | bool | None = Field(
        default_factory=dict
    )
    version: int | None = Field(default=None, ge=1)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class StartRunAnyBody(StartRunBody):
    workflow_id: str = Field(min_length=1, max_length=200)


class StepError(ApiModel):
    type: str
    message: str
    retryable: bool | None = None


class Step(ApiModel):
    node_id: str
    status: str
    attempt: int
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: StepError | dict[str, Any] | None = None
    output: Any = None


class Run(ApiModel):
    run_id: str
    workflow_id: str
    version: int
    status: str = Field(description=" | ".join(RUN_STATUSES))
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    parent_run_id: str | None = None
    replay_of: str | None = None
    steps: list[Step] = Field(default_factory=list)


class RunState(Run):
    at_seq: int
    vars: dict[str, Any] = Field(default_factory=dict)


class Event(ApiModel):
    seq: int
    type: str
    data: dict[str, Any]
    recorded_at: datetime


class ReplayBody(ApiModel):
    from_seq: int = Field(ge=1)
    input: Any = None


class SignalBody(ApiModel):
    data: Any = None


class Accepted(ApiModel):
    run_id: str
    accepted: bool = True
