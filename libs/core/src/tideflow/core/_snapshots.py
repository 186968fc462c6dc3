"""Snapshots: a run state as JSON that restores to exactly the same state.

`state_to_record` is the time-travel view: it leaves out what a reader does not need (the
pinned definition, step configs, applied command ids...), and golden files pin its exact
shape, so it cannot grow. A snapshot is what a scheduler stores every N events to resume
from: `fold(later_events, state_from_snapshot(state_to_snapshot(s)))` equals folding all
events. Steps and timers are stored as lists, because their order decides the order of
events (cancelling steps, dropping timers) and a JSON store such as Postgres `jsonb`
does not keep the order of object keys.
"""

from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from tideflow.core._context import PinnedDefinition, RunContext
from tideflow.core._events import (
    ParentLink,
    ReplayOrigin,
    RestoredItem,
    RunError,
    StepError,
    StepRole,
    TimerKind,
)
from tideflow.core._limits import DEFAULT_LIMITS, Limits, json_size
from tideflow.core._records import step_to_record
from tideflow.core._state import (
    BufferedSignal,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
    Timer,
    Unwinding,
    count_open_inputs,
    count_steps,
)
from tideflow.core.nodes import Execution

_M = TypeVar("_M", StepError, RunError, ParentLink, ReplayOrigin)

SNAPSHOT_FORMAT = 1
"""Bumped when the snapshot shape changes; older snapshots are then ignored and rebuilt."""


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def state_to_snapshot(state: RunState) -> dict[str, Any]:
    """The whole run state as camelCase JSON, lossless (see `state_from_snapshot`)."""
    unwinding = state.unwinding
    return {
        "format": SNAPSHOT_FORMAT,
        "runId": state.run_id,
        "workflow": state.workflow,
        "version": state.version,
        "status": str(state.status),
        "definition": state.definition.to_wire() if state.definition is not None else None,
        "input": state.input,
        "vars": state.vars,
        "steps": [_step(step) for step in state.steps.values()],
        "timers": [_timer(t) for t in state.timers.values()],
        "signals": [{"id": s.signal_id, "name": s.name, "data": s.data} for s in state.signals],
        "completed": list(state.completed),
        "unwinding": None
        if unwinding is None
        else {
            "outcome": str(unwinding.outcome),
            "error": _dump(unwinding.error),
            "order": list(unwinding.order),
            "done": list(unwinding.done),
            "failed": list(unwinding.failed),
        },
        "output": state.output,
        "error": _dump(state.error),
        "startedAt": _time(state.started_at),
        "endedAt": _time(state.ended_at),
        "parent": _dump(state.parent),
        "replayOf": _dump(state.replay_of),
        "restoredItems": {
            node: {str(i): kept.model_dump(mode="json") for i, kept in items.items()}
            for node, items in state.restored_items.items()
        },
        "limits": state.limits.model_dump(mode="json", by_alias=True),
        "applied": sorted(state.applied),
        "lastSeq": state.last_seq,
    }


def _timer(t: Timer) -> dict[str, Any]:
    return {
        "id": t.timer_id,
        "kind": str(t.kind),
        "step": t.step,
        "attempt": t.attempt,
        "fireAt": _time(t.fire_at),
    }


def _dump(model: StepError | RunError | ParentLink | ReplayOrigin | None) -> Any:
    return model.model_dump(mode="json", by_alias=True) if model is not None else None


def _step(step: StepState) -> dict[str, Any]:
    # Exact times (the record's "Z" form is for people) and the rendered config.
    record = step_to_record(step, _time)
    record["config"] = step.config
    record["polls"] = step.polls
    record["pollState"] = step.poll_state
    return record


def state_from_snapshot(snapshot: dict[str, Any], context: RunContext | None = None) -> RunState:
    """The run state a snapshot was taken of; ValueError for another snapshot format.

    Kept counts are rebuilt; they are derived, never stored. `context` (the run's, when
    the caller has it) spares parsing the pinned definition again.
    """
    if snapshot.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"unsupported snapshot format {snapshot.get('format')!r}")
    steps = _with_item_counts({s["step"]: _load_step(s) for s in snapshot["steps"]})
    wire = snapshot["definition"]
    pinned = context.pinned if context is not None else None
    if wire is None:
        pinned = None
    elif pinned is None or not pinned.records(wire):
        pinned = PinnedDefinition.from_wire(wire)
    definition = pinned.definition if pinned is not None else None
    graph = pinned.graph if pinned is not None else None
    unwinding = snapshot["unwinding"]
    return RunState(
        run_id=snapshot["runId"],
        workflow=snapshot["workflow"],
        version=snapshot["version"],
        status=RunStatus(snapshot["status"]),
        definition=definition,
        input=snapshot["input"],
        vars=snapshot["vars"],
        steps=steps,
        timers={
            t["id"]: Timer(
                t["id"], TimerKind(t["kind"]), t["step"], t["attempt"], _required_time(t["fireAt"])
            )
            for t in snapshot["timers"]
        },
        signals=tuple(BufferedSignal(s["id"], s["name"], s["data"]) for s in snapshot["signals"]),
        completed=tuple(snapshot["completed"]),
        unwinding=None
        if unwinding is None
        else Unwinding(
            RunStatus(unwinding["outcome"]),
            _load(RunError, unwinding["error"]),
            tuple(unwinding["order"]),
            tuple(unwinding["done"]),
            tuple(unwinding["failed"]),
        ),
        output=snapshot["output"],
        error=_load(RunError, snapshot["error"]),
        started_at=_parse_time(snapshot["startedAt"]),
        ended_at=_parse_time(snapshot["endedAt"]),
        parent=_load(ParentLink, snapshot["parent"]),
        replay_of=_load(ReplayOrigin, snapshot["replayOf"]),
        restored_items={
            node: {int(i): RestoredItem.model_validate(kept) for i, kept in items.items()}
            for node, items in snapshot.get("restoredItems", {}).items()
        },
        limits=_limits(snapshot.get("limits")),
        applied=frozenset(snapshot["applied"]),
        last_seq=snapshot["lastSeq"],
        tally=count_steps(steps.values()),
        open_inputs=count_open_inputs(graph, steps) if graph is not None else None,
    )


def _required_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _limits(data: dict[str, Any] | None) -> Limits:
    """Snapshots taken before limits were pinned hold none: the defaults applied then."""
    return Limits.model_validate(data) if data else DEFAULT_LIMITS


def _load(model: type[_M], data: dict[str, Any] | None) -> _M | None:
    return model.model_validate(data) if data is not None else None


def _with_item_counts(steps: dict[str, StepState]) -> dict[str, StepState]:
    """Recount each foreach's item counts from its items (derived data, so snapshots
    written before the counts existed load the same)."""
    counts: dict[str, list[int]] = {}
    for step in steps.values():
        if step.role is not StepRole.ITEM or step.parent_step is None:
            continue
        started, done, size = counts.setdefault(step.parent_step, [0, 0, 0])
        ended = step.status.terminal
        succeeded = step.status is StepStatus.SUCCEEDED
        counts[step.parent_step] = [
            started + 1,
            done + ended,
            size + (json_size(step.output) + 1 if succeeded else 0),
        ]
    for key, (started, done, size) in counts.items():
        parent = steps.get(key)
        if parent is not None:
            steps[key] = replace(
                parent, items_started=started, items_done=done, item_output_bytes=size
            )
    return steps


def _load_step(s: dict[str, Any]) -> StepState:
    return StepState(
        step=s["step"],
        node_id=s["nodeId"],
        node_type=s["nodeType"],
        role=StepRole(s["role"]),
        status=StepStatus(s["status"]),
        attempt=s["attempt"],
        execution=Execution(s["execution"]) if s["execution"] is not None else None,
        queue=s["queue"],
        config=s["config"],
        scheduled_at=_parse_time(s["scheduledAt"]),
        started_at=_parse_time(s["startedAt"]),
        ended_at=_parse_time(s["endedAt"]),
        output=s["output"],
        error=_load(StepError, s["error"]),
        skip_reason=s["skipReason"],
        parent_step=s["parentStep"],
        index=s["index"],
        child_run_id=s["childRunId"],
        restored=s["restored"],
        polls=s.get("polls", 0),
        poll_state=s.get("pollState"),
    )
