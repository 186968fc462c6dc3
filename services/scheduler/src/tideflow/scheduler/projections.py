"""The `runs` and `run_steps` rows a state implies, written with the events that made it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tideflow.store import RunRecord, StepRecord

if TYPE_CHECKING:
    from tideflow.core import RunState, StepState


def run_record(state: RunState, *, tenant_id: str) -> RunRecord:
    return RunRecord(
        run_id=state.run_id,
        workflow_id=state.workflow,
        version=state.version,
        status=state.status.value,
        tenant_id=tenant_id,
        input=state.input,
        output=state.output,
        error=state.error.model_dump(mode="json") if state.error else None,
        parent_run_id=state.parent.run_id if state.parent else None,
        replay_of=state.replay_of.run_id if state.replay_of else None,
        started_at=state.started_at,
        ended_at=state.ended_at,
        last_seq=state.last_seq,
    )


def unstarted_record(row: RunRecord, state: RunState) -> RunRecord:
    """The row of a run whose StartRun is not decided yet (a cancel, fail or signal came
    first): the starter's row (workflow, version, input) with the status the log gives."""
    return replace(
        row,
        status=state.status.value,
        error=state.error.model_dump(mode="json") if state.error else None,
        ended_at=state.ended_at,
        last_seq=state.last_seq,
    )


def changed_steps(before: RunState | None, after: RunState, *, tenant_id: str) -> list[StepRecord]:
    """Rows for the steps whose state changed in this decision (not the whole run)."""
    old = before.steps if before is not None else {}
    return [
        step_record(after.run_id, key, step, tenant_id=tenant_id)
        for key, step in after.steps.items()
        if old.get(key) is not step
    ]


def step_record(run_id: str, key: str, step: StepState, *, tenant_id: str) -> StepRecord:
    error: Any = step.error.model_dump(mode="json") if step.error else None
    return StepRecord(
        run_id=run_id,
        node_id=key,
        status=step.status.value,
        attempt=max(step.attempt, 1),
        tenant_id=tenant_id,
        started_at=step.started_at or step.scheduled_at,
        ended_at=step.ended_at,
        error=error,
        output=step.output,
        child_run_id=step.child_run_id,
    )
