"""Store rows and folded core state rendered as API models.

`GET /runs/{id}` (projections) and `GET /runs/{id}/state` (a fold of the log) answer in
the same shape, so a client scrubbing through history reuses the code that shows a run.
"""

from __future__ import annotations

from typing import Any

from tideflow.core import RunState, StepState
from tideflow.gateway import schemas
from tideflow.store import RunRecord, StepRecord, StoredEvent, WorkflowRecord, WorkflowVersion


def _object(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    return {"message": str(value)}


def run_view(run: RunRecord, steps: list[StepRecord]) -> schemas.Run:
    return schemas.Run(
        run_id=run.run_id,
        workflow_id=run.workflow_id,
        version=run.version,
        status=run.status,
        input=run.input,
        output=run.output,
        error=_object(run.error),
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
                error=_object(s.error),
                output=s.output,
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


def _step_view(key: str, step: StepState) -> schemas.StepView:
    return schemas.StepView(
        node_id=key,
        status=str(step.status),
        attempt=step.attempt,
        started_at=step.started_at or step.scheduled_at,
        ended_at=step.ended_at,
        error=step.error.model_dump(mode="json") if step.error else None,
        output=step.output,
        child_run_id=step.child_run_id,
    )


def state_view(run: RunRecord, state: RunState, at_seq: int) -> schemas.RunState:
    """The run as it was after event `at_seq`; identity fields come from the run row."""
    return schemas.RunState(
        run_id=run.run_id,
        workflow_id=state.workflow or run.workflow_id,
        version=state.version or run.version,
        status=str(state.status),
        input=state.input,
        output=state.output,
        error=state.error.model_dump(mode="json") if state.error else None,
        started_at=state.started_at,
        ended_at=state.ended_at,
        parent_run_id=state.parent.run_id if state.parent else None,
        replay_of=state.replay_of.run_id if state.replay_of else None,
        idempotency_key=run.idempotency_key,
        last_seq=state.last_seq,
        steps=[_step_view(key, step) for key, step in state.steps.items()],
        at_seq=at_seq,
        vars=dict(state.vars),
    )


def event_view(event: StoredEvent) -> schemas.Event:
    return schemas.Event(
        seq=event.seq, type=event.type, data=event.data, recorded_at=event.recorded_at
    )


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
