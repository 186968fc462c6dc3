"""What one committed decision of a run adds to the Prometheus metrics.

Counted after the commit only, so a batch that conflicts and is decided again is counted
once. The labels are the run's workflow id, the node type and outcome: bounded by what
tenants publish, never by how many runs there are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tideflow.scheduler import metrics

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tideflow.core import Event, RunState

_STEP_OUTCOMES = {
    "StepSucceeded": "succeeded",
    "StepFailed": "failed",
    "StepTimedOut": "timed_out",
    "StepCancelled": "cancelled",
}


def observe_run(
    before: RunState | None,
    state: RunState,
    events: Sequence[Event],
    *,
    workflow: str | None = None,
) -> None:
    """Count the run's new events, started and ended runs, and time its steps and run.

    `workflow` names a run whose state does not (one that ended before its start)."""
    workflow = workflow or state.workflow
    now = datetime.now(UTC)
    for event in events:
        kind = event.type
        metrics.EVENTS.labels(kind).inc()
        step_key = getattr(event, "step", None)
        step = state.steps.get(step_key) if isinstance(step_key, str) else None
        if step is None:
            continue
        if kind == "StepScheduled":
            metrics.STEP_ATTEMPTS.labels(workflow, step.node_type).inc()
        elif kind == "StepRetryScheduled":
            metrics.STEP_RETRIES.labels(workflow, step.node_type).inc()
            _step_ended(workflow, step.node_type, "failed", step.scheduled_at, event.at or now)
        elif kind in _STEP_OUTCOMES:
            outcome = _STEP_OUTCOMES[kind]
            _step_ended(workflow, step.node_type, outcome, step.scheduled_at, event.at or now)
    previous = before.status if before is not None else None
    if state.started_at is not None and (before is None or before.started_at is None):
        metrics.RUNS_STARTED.labels(workflow).inc()
    if state.status.terminal and (previous is None or not previous.terminal):
        status = state.status.value
        metrics.RUNS_ENDED.labels(workflow, status).inc()
        if state.started_at is not None:
            ended = state.ended_at or now
            seconds = max(0.0, (ended - state.started_at).total_seconds())
            metrics.RUN_SECONDS.labels(workflow, status).observe(seconds)


def _step_ended(
    workflow: str, node_type: str, outcome: str, scheduled: datetime | None, ended: datetime
) -> None:
    if scheduled is None:
        return
    seconds = max(0.0, (ended - scheduled).total_seconds())
    metrics.STEP_SECONDS.labels(workflow, node_type, outcome).observe(seconds)
