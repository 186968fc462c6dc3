"""Every API call as data: method, path, body, how to read the answer, and whether it may
be sent twice. The sync and the async client both execute these, so an endpoint is
described once and the two clients cannot drift apart.

A call is *idempotent* when sending it twice has the effect of sending it once: reads,
`PUT`s, publishing (an unchanged draft returns the same version), validation, and the
commands that carry an idempotency key. The client generates a key for `cancel` and
`signal` when the caller gives none, so both stay safe to retry; `start` is retried only
with the caller's key (the key is stored on the run).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote

from tideflow.client._models import (
    Accepted,
    Approval,
    EventPage,
    Page,
    Published,
    Run,
    RunState,
    RunSummary,
    ValidationResult,
    VersionList,
    Workflow,
    WorkflowSummary,
    WorkflowVersion,
)

T = TypeVar("T")
Base = Literal["api", "approvals"]
UNSET: Any = object()
"""A parameter left out (distinct from an explicit None, which means JSON null)."""


@runtime_checkable
class SupportsDefinition(Protocol):
    """Anything that renders a definition document (the Python `Workflow` builder does)."""

    def to_definition(self) -> dict[str, Any]: ...


Definition = Mapping[str, Any] | SupportsDefinition


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    idempotent: bool
    params: Mapping[str, Any] | None = None
    body: Any = UNSET
    base: Base = "api"


def document(definition: Definition) -> dict[str, Any]:
    if isinstance(definition, SupportsDefinition):
        return definition.to_definition()
    return dict(definition)


def workflow_name(definition: Mapping[str, Any]) -> str:
    metadata = definition.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ValueError("the definition has no metadata.name")
    return name


def _seg(value: str | int) -> str:
    """One path segment, escaped: ids never smuggle a `/` or `?` into the path."""
    return quote(str(value), safe="")


def _query(**params: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def _reader(model: Any) -> Callable[[Any], Any]:
    return model.model_validate  # type: ignore[no-any-return]


def _none(_: Any) -> None:
    return None


def _raw(value: Any) -> Any:
    return value


# --- runs -------------------------------------------------------------------------------


def start_run(
    workflow_id: str, input_value: Any, version: int | None, idempotency_key: str | None
) -> Call[Run]:
    body: dict[str, Any] = {"input": {} if input_value is None else input_value}
    if version is not None:
        body["version"] = version
    if idempotency_key is not None:
        body["idempotencyKey"] = idempotency_key
    return Call("POST", f"/workflows/{_seg(workflow_id)}/runs", _reader(Run),
                idempotent=idempotency_key is not None, body=body)  # fmt: skip


def get_run(run_id: str, *, wait: float = 0.0) -> Call[Run]:
    """`wait` > 0: the gateway answers when the run ends, or after that many seconds."""
    params = {"wait": f"{wait:.3f}"} if wait > 0 else None
    return Call("GET", f"/runs/{_seg(run_id)}", _reader(Run), idempotent=True, params=params)


def list_runs(
    *,
    workflow_id: str | None,
    status: str | None,
    parent_run_id: str | None,
    started_after: datetime | None,
    started_before: datetime | None,
    limit: int,
    cursor: str | None,
) -> Call[Page[RunSummary]]:
    params = _query(workflowId=workflow_id, status=status, parentRunId=parent_run_id,
                    startedAfter=started_after, startedBefore=started_before,
                    limit=limit, cursor=cursor)  # fmt: skip
    return Call("GET", "/runs", _reader(Page[RunSummary]), idempotent=True, params=params)


def run_events(run_id: str, after_seq: int, limit: int | None) -> Call[EventPage]:
    params = _query(afterSeq=after_seq, limit=limit)
    return Call("GET", f"/runs/{_seg(run_id)}/events", _reader(EventPage), idempotent=True,
                params=params)  # fmt: skip


def run_state(run_id: str, at_seq: int | None) -> Call[RunState]:
    return Call("GET", f"/runs/{_seg(run_id)}/state", _reader(RunState), idempotent=True,
                params=_query(atSeq=at_seq))  # fmt: skip


def replay_run(run_id: str, from_seq: int, input_value: Any) -> Call[Run]:
    body: dict[str, Any] = {"fromSeq": from_seq}
    if input_value is not UNSET:
        body["input"] = input_value
    return Call("POST", f"/runs/{_seg(run_id)}/replay", _reader(Run), idempotent=False,
                body=body)  # fmt: skip


def cancel_run(run_id: str, reason: str | None, idempotency_key: str | None) -> Call[Accepted]:
    body: dict[str, Any] = {"idempotencyKey": idempotency_key or str(uuid.uuid4())}
    if reason is not None:
        body["reason"] = reason
    return Call("POST", f"/runs/{_seg(run_id)}/cancel", _reader(Accepted), idempotent=True,
                body=body)  # fmt: skip


def fail_run(run_id: str, reason: str, idempotency_key: str | None) -> Call[Accepted]:
    body = {"reason": reason, "idempotencyKey": idempotency_key or str(uuid.uuid4())}
    return Call("POST", f"/runs/{_seg(run_id)}/fail", _reader(Accepted), idempotent=True,
                body=body)  # fmt: skip


def signal_run(run_id: str, name: str, data: Any, idempotency_key: str | None) -> Call[Accepted]:
    body = {"data": data, "idempotencyKey": idempotency_key or str(uuid.uuid4())}
    return Call("POST", f"/runs/{_seg(run_id)}/signals/{_seg(name)}", _reader(Accepted),
                idempotent=True, body=body)  # fmt: skip


# --- workflows --------------------------------------------------------------------------


def list_workflows(
    limit: int, cursor: str | None, include_archived: bool
) -> Call[Page[WorkflowSummary]]:
    params = _query(limit=limit, cursor=cursor, includeArchived=include_archived or None)
    return Call("GET", "/workflows", _reader(Page[WorkflowSummary]), idempotent=True,
                params=params)  # fmt: skip


def get_workflow(workflow_id: str) -> Call[Workflow]:
    return Call("GET", f"/workflows/{_seg(workflow_id)}", _reader(Workflow), idempotent=True)


def create_workflow(definition: dict[str, Any]) -> Call[Workflow]:
    return Call("POST", "/workflows", _reader(Workflow), idempotent=False, body=definition)


def replace_draft(workflow_id: str, definition: dict[str, Any]) -> Call[Workflow]:
    return Call("PUT", f"/workflows/{_seg(workflow_id)}", _reader(Workflow), idempotent=True,
                body=definition)  # fmt: skip


def publish(workflow_id: str) -> Call[Published]:
    return Call("POST", f"/workflows/{_seg(workflow_id)}/publish", _reader(Published),
                idempotent=True, body={})  # fmt: skip


def list_versions(workflow_id: str, definitions: bool) -> Call[VersionList]:
    return Call("GET", f"/workflows/{_seg(workflow_id)}/versions", _reader(VersionList),
                idempotent=True, params=_query(definitions=definitions or None))  # fmt: skip


def get_version(workflow_id: str, version: int) -> Call[WorkflowVersion]:
    return Call("GET", f"/workflows/{_seg(workflow_id)}/versions/{_seg(version)}",
                _reader(WorkflowVersion), idempotent=True)  # fmt: skip


def rollback(workflow_id: str, version: int) -> Call[Published]:
    return Call("POST", f"/workflows/{_seg(workflow_id)}/versions/{_seg(version)}/rollback",
                _reader(Published), idempotent=False, body={})  # fmt: skip


def archive(workflow_id: str) -> Call[None]:
    return Call("DELETE", f"/workflows/{_seg(workflow_id)}", _none, idempotent=True)


def restore(workflow_id: str) -> Call[Workflow]:
    return Call("POST", f"/workflows/{_seg(workflow_id)}/restore", _reader(Workflow),
                idempotent=True, body={})  # fmt: skip


def validate(definition: dict[str, Any]) -> Call[ValidationResult]:
    return Call("POST", "/definitions/validate", _reader(ValidationResult), idempotent=True,
                body=definition)  # fmt: skip


# --- approvals --------------------------------------------------------------------------


def list_approvals(
    status: str | None, workflow_id: str | None, run_id: str | None, limit: int,
    cursor: str | None,
) -> Call[Page[Approval]]:  # fmt: skip
    params = _query(status=status, workflowId=workflow_id, runId=run_id, limit=limit,
                    cursor=cursor)  # fmt: skip
    return Call("GET", "/approvals", _reader(Page[Approval]), idempotent=True, params=params,
                base="approvals")  # fmt: skip


def get_approval(approval_id: str) -> Call[Approval]:
    return Call("GET", f"/approvals/{_seg(approval_id)}", _reader(Approval), idempotent=True,
                base="approvals")  # fmt: skip


def decide_approval(approval_id: str, decision: str, comment: str | None) -> Call[Approval]:
    if decision not in {"approve", "reject"}:
        raise ValueError(f"decision must be 'approve' or 'reject', not {decision!r}")
    return Call("POST", f"/approvals/{_seg(approval_id)}/decision", _reader(Approval),
                idempotent=False, body={"decision": decision, "comment": comment},
                base="approvals")  # fmt: skip


# --- anything else ----------------------------------------------------------------------


def raw(method: str, path: str, params: Mapping[str, Any] | None, body: Any) -> Call[Any]:
    """Any endpoint, answered as decoded JSON (GET, PUT and DELETE are retried)."""
    idempotent = method.upper() in {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
    return Call(method.upper(), path, _raw, idempotent=idempotent,
                params=_query(**params) if params else None, body=body)  # fmt: skip
