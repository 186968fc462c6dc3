"""Store rows and folded core state rendered as API models.

`GET /runs/{id}` (projections) and `GET /runs/{id}/state` (a fold of the log) answer in
the same shape, so a client scrubbing through history reuses the code that shows a run.
Their values pass through a `ValueBudget`, so an answer stays bounded however much the
run produced; a value left out links to `GET /runs/{id}/value`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from tideflow.core import RunState, StepState
from tideflow.gateway import schemas
from tideflow.gateway.budget import ValueBudget
from tideflow.store import RunRecord, StepRecord, StoredEvent, WorkflowRecord, WorkflowVersion


def _object(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    return {"message": str(value)}


def value_href(
    run_id: str, field: str, node_id: str | None = None, at_seq: int | None = None
) -> str:
    """Where `GET /runs/{id}/value` answers one whole value of a run."""
    query: dict[str, str | int] = {"field": field}
    if node_id is not None:
        query["nodeId"] = node_id
    if at_seq is not None:
        query["atSeq"] = at_seq
    return f"/runs/{run_id}/value?{urlencode(query)}"


def run_view(run: RunRecord, steps: list[StepRecord], budget: ValueBudget) -> schemas.Run:
    def fit(value: Any, field: str, node_id: str | None = None) -> Any:
        return budget.fit(value, value_href(run.run_id, field, node_id))

    return schemas.Run(
        run_id=run.run_id,
        workflow_id=run.workflow_id,
        version=run.version,
        status=run.status,
        input=fit(run.input, "input"),
        output=fit(run.output, "output"),
        error=fit(_object(run.error), "error"),
        started_at=run.started_at,
        ended_at=run.ended_at,
        parent_run_id=run.parent_run_id,
        replay_of=run.replay_of,
        idempotency_key=run.idempotency_key,
        last_seq=run.last_seq,
        steps=[
            schemas.StepView(
                node_id=s.node_id,
                status=s.status,
                attempt=s.attempt,
                started_at=s.started_at,
                ended_at=s.ended_at,
                error=fit(_object(s.error), "error", s.node_id),
                output=fit(s.output, "output", s.node_id),
                child_run_id=s.child_run_id,
            )
            for s in steps
        ],
    )


def run_summary(run: RunRecord) -> schemas.RunSummary:
    return schemas.RunSummary(
        run_id=run.run_id,
        workflow_id=run.workflow_id,
        version=run.version,
        status=run.status,
        started_at=run.started_at,
        ended_at=run.ended_at,
        parent_run_id=run.parent_run_id,
        replay_of=run.replay_of,
    )


def _error(error: Any) -> dict[str, Any] | None:
    return error.model_dump(mode="json") if error else None


def state_value(state: RunState, field: str, node_id: str | None) -> tuple[bool, Any]:
    """(found, value) of one field of a folded state, or of one of its steps."""
    if node_id is None:
        owner: dict[str, Any] = {
            "input": state.input,
            "output": state.output,
            "error": _error(state.error),
            "vars": dict(state.vars),
        }
    elif (step := state.steps.get(node_id)) is not None:
        owner = {"output": step.output, "error": _error(step.error)}
    else:
        owner = {}
    return field in owner, owner.get(field)


def state_view(
    run: RunRecord, state: RunState, at_seq: int, budget: ValueBudget
) -> schemas.RunState:
    """The run as it was after event `at_seq`; identity fields come from the run row."""

    def fit(field: str, node_id: str | None = None) -> Any:
        _, value = state_value(state, field, node_id)
        return budget.fit(value, value_href(run.run_id, field, node_id, at_seq))

    def step_view(key: str, step: StepState) -> schemas.StepView:
        return schemas.StepView(
            node_id=key,
            status=str(step.status),
            attempt=step.attempt,
            started_at=step.started_at or step.scheduled_at,
            ended_at=step.ended_at,
            error=fit("error", key),
            output=fit("output", key),
            child_run_id=step.child_run_id,
        )

    return schemas.RunState(
        run_id=run.run_id,
        workflow_id=state.workflow or run.workflow_id,
        version=state.version or run.version,
        status=str(state.status),
        input=fit("input"),
        output=fit("output"),
        error=fit("error"),
        started_at=state.started_at,
        ended_at=state.ended_at,
        parent_run_id=state.parent.run_id if state.parent else None,
        replay_of=state.replay_of.run_id if state.replay_of else None,
        idempotency_key=run.idempotency_key,
        last_seq=state.last_seq,
        steps=[step_view(key, step) for key, step in state.steps.items()],
        at_seq=at_seq,
        vars=fit("vars"),
    )


def event_view(event: StoredEvent, budget: ValueBudget | None = None) -> schemas.Event:
    """An event; with a budget, data too large for the page becomes a marker (the
    step's whole output is at `GET /runs/{id}/value`)."""
    data = event.data if budget is None else budget.fit(event.data, None)
    return schemas.Event(seq=event.seq, type=event.type, data=data, recorded_at=event.recorded_at)


def workflow_summary(record: WorkflowRecord, latest: int | None) -> schemas.WorkflowSummary:
    return schemas.WorkflowSummary(
        id=record.workflow_id,
        latest_version=latest,
        archived=record.archived,
        revision=record.revision,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def workflow_view(record: WorkflowRecord, latest: int | None) -> schemas.Workflow:
    return schemas.Workflow(
        **workflow_summary(record, latest).model_dump(), definition=record.draft
    )


def version_view(version: WorkflowVersion, *, definition: bool) -> schemas.WorkflowVersion:
    return schemas.WorkflowVersion(
        workflow_id=version.workflow_id,
        version=version.version,
        published_at=version.published_at,
        published_by=version.published_by,
        rollback_of=version.source_version,
        definition=version.definition if definition else None,
    )
