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
WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
"""Workflow ids are `metadata.name`; they travel in URL paths, so no slashes or spaces."""
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"
SIGNAL_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,199}$"
IDEMPOTENCY_KEY_PATTERN = r"^[^\x00]{1,200}$"
STEP_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._:\[\]-]{0,399}$"
"""Step ids: node ids, `node[3]` for foreach items, `node.compensate` for compensations."""

JSONValue = dict[str, Any] | list[Any] | str | int | float | bool | None


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ErrorInfo(ApiModel):
    code: str = Field(description="A stable code clients can branch on (see docs/api.md).")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(ApiModel):
    error: ErrorInfo


class Page(ApiModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last."
    )


class WorkflowSummary(ApiModel):
    id: str
    latest_version: int | None
    archived: bool
    revision: int = Field(description="Increments on every draft change.")
    created_at: datetime
    updated_at: datetime


class Workflow(WorkflowSummary):
    definition: dict[str, Any] = Field(description="The editable draft.")


class WorkflowVersion(ApiModel):
    workflow_id: str
    version: int
    published_at: datetime
    published_by: str | None = None
    rollback_of: int | None = Field(
        default=None, description="The version this one republished, for a rollback."
    )
    definition: dict[str, Any] | None = None


class VersionList(ApiModel):
    items: list[WorkflowVersion] = Field(description="Newest first.")


class Published(ApiModel):
    workflow_id: str
    version: int
    created: bool = Field(
        default=True,
        description="False when the draft equals the newest version, which is returned as is.",
    )


class StartRunBody(ApiModel):
    input: JSONValue = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY_PATTERN)


class StartRunAnyBody(StartRunBody):
    workflow_id: str = Field(pattern=WORKFLOW_ID_PATTERN)


class StepView(ApiModel):
    node_id: str
    status: str
    attempt: int
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: dict[str, Any] | None = None
    output: Any = None
    child_run_id: str | None = Field(
        default=None, description="The run a `subworkflow` step started (its latest attempt)."
    )


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
    idempotency_key: str | None = None
    last_seq: int = Field(default=0, description="Events recorded so far.")
    steps: list[StepView] = Field(default_factory=list)


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
    at_seq: int
    vars: dict[str, Any] = Field(default_factory=dict)


class Event(ApiModel):
    seq: int
    type: str
    data: dict[str, Any]
    recorded_at: datetime


class EventPage(ApiModel):
    items: list[Event]
    next_after_seq: int | None = Field(
        default=None, description="Pass as `afterSeq` for more; null when none are left."
    )


class ReplayBody(ApiModel):
    from_seq: int = Field(description="Continue from the state right after this event.")
    input: JSONValue = Field(default=None, description="A new run input; default: the same.")


class SignalBody(ApiModel):
    data: JSONValue = None
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY_PATTERN)


class CancelBody(ApiModel):
    reason: str | None = Field(default=None, max_length=2000)
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY_PATTERN)


class FailBody(ApiModel):
    reason: str = Field(
        min_length=1, max_length=2000, description="Why; recorded in the run's error."
    )
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY_PATTERN)


class Value(ApiModel):
    value: Any = Field(description="The whole value, as the run stored it.")
    bytes: int = Field(description="Size of its JSON encoding.")


class Accepted(ApiModel):
    run_id: str
    command_id: str
    accepted: bool = True


class Health(ApiModel):
    status: str
    service: str = "gateway"
    checks: dict[str, bool] = Field(default_factory=dict)


class NodeTypeInfo(ApiModel):
    type: str
    description: str
    execution: str = Field(description="inline | dispatch | timer | signal | approval | ...")
    branches: bool = Field(description="Whether outgoing edges may carry `when`.")
    when_values: list[str] | None = Field(
        default=None, description="The closed set of `when` values (condition: true/false)."
    )
    config_schema: dict[str, Any] = Field(description="JSON Schema of the node's `config`.")
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the node's output, when the type declares one."
    )
    runs: str = Field(description="Where it runs: `inline` (the scheduler) or `worker`.")
    title: str = Field(description="A human name for palettes.")
    category: str = Field(description="The palette group: `core`, `plugins`, a connector...")
    icon: str | None = Field(default=None, description="An emoji or icon name for palettes.")
    source: str = Field(description="`builtin`, or the plugin distribution that declared it.")


class PluginFailureInfo(ApiModel):
    entry_point: str = Field(description="`name = module:attr` as the plugin declared it.")
    source: str = Field(description="The distribution that declared it.")
    node_type: str | None = Field(default=None, description="The type rejected, if one.")
    error: str = Field(description="Why it could not be loaded (one line).")


class NodeTypeList(ApiModel):
    items: list[NodeTypeInfo]
    node_schema: dict[str, Any] = Field(
        description="JSON Schema of a node (retry, timeout, queue, compensate, join, ...)."
    )
    failures: list[PluginFailureInfo] = Field(
        default_factory=list,
        description="Plugins that failed to load (the service runs without their types).",
    )


class ProblemView(ApiModel):
    code: str
    path: str
    message: str
    node: str | None = Field(default=None, description="The id of the node the problem is about.")


class ValidationResult(ApiModel):
    valid: bool
    problems: list[ProblemView]
