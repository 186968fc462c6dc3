"""JSON views of a run state: what the time-travel API serves and golden files pin down."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tideflow.core._state import RunState, StepState


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def step_to_record(
    step: StepState, time: Callable[[datetime | None], str | None] = _time
) -> dict[str, Any]:
    """A step as camelCase JSON; `time` writes its times (snapshots keep them exact)."""
    return {
        "step": step.step,
        "nodeId": step.node_id,
        "nodeType": step.node_type,
        "role": str(step.role),
        "status": str(step.status),
        "attempt": step.attempt,
        "execution": str(step.execution) if step.execution else None,
        "queue": step.queue,
        "scheduledAt": time(step.scheduled_at),
        "startedAt": time(step.started_at),
        "endedAt": time(step.ended_at),
        "output": step.output,
        "error": step.error.model_dump(mode="json") if step.error else None,
        "skipReason": step.skip_reason,
        "parentStep": step.parent_step,
        "index": step.index,
        "childRunId": step.child_run_id,
        "restored": step.restored,
    }


def state_to_record(state: RunState) -> dict[str, Any]:
    """The whole run state as camelCase JSON (the definition is left out: it is pinned)."""
    unwinding = state.unwinding
    return {
        "runId": state.run_id,
        "workflow": state.workflow,
        "version": state.version,
        "status": str(state.status),
        "input": state.input,
        "vars": state.vars,
        "steps": {key: step_to_record(step) for key, step in state.steps.items()},
        "timers": {
            t.timer_id: {"kind": str(t.kind), "step": t.step, "fireAt": _time(t.fire_at)}
            for t in state.timers.values()
        },
        "signals": [{"id": s.signal_id, "name": s.name, "data": s.data} for s in state.signals],
        "completed": list(state.completed),
        "unwinding": None
        if unwinding is None
        else {
            "outcome": str(unwinding.outcome),
            "order": list(unwinding.order),
            "done": list(unwinding.done),
            "failed": list(unwinding.failed),
        },
        "output": state.output,
        "error": state.error.model_dump(mode="json") if state.error else None,
        "startedAt": _time(state.started_at),
        "endedAt": _time(state.ended_at),
        "lastSeq": state.last_seq,
    }
