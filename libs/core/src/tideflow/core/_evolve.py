"""`evolve(state, event) -> state`: the pure fold of run events into a `RunState`.

Each handler returns the fields an event changes, and one copy of the state is made with
them. Step tallies and open-input counts are kept on the way, so the decider never
rescans every step. Keeping open-input counts needs the graph, which comes from the
run's `RunContext` (or is parsed from RunStarted): `evolve` without a context still gives
an equal state, with the counts dropped where it could not keep them.
"""

from collections.abc import Callable, Iterable
from dataclasses import fields
from operator import attrgetter
from typing import Any

from tideflow.core._context import PinnedDefinition, RunContext
from tideflow.core._events import (
    ApprovalDecided,
    ApprovalRequested,
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    Event,
    ItemRestored,
    RunCancelled,
    RunCompensated,
    RunFailed,
    RunStarted,
    RunSucceeded,
    SignalReceived,
    StepCancelled,
    StepError,
    StepFailed,
    StepPollScheduled,
    StepRetryScheduled,
    StepRole,
    StepScheduled,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    TimerCancelled,
    TimerFired,
    TimerScheduled,
    UnwindingOutcomeChanged,
)
from tideflow.core._graph import Graph
from tideflow.core._limits import DEFAULT_LIMITS, json_size
from tideflow.core._state import (
    WAITING_EXECUTIONS,
    BufferedSignal,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
    StepTally,
    Timer,
    Unwinding,
    count_open_inputs,
    count_steps,
    live_status,
    step_weight,
    tally_of,
)
from tideflow.core.nodes import Execution

# ---- fast copies --------------------------------------------------------------------------
# `dataclasses.replace` re-validates every field by name; on the hot path we copy the field
# tuple once and change the few fields an event touches.

_RUN_FIELDS = tuple(f.name for f in fields(RunState))
_RUN_INDEX = {name: i for i, name in enumerate(_RUN_FIELDS)}
_run_values = attrgetter(*_RUN_FIELDS)
_STEP_FIELDS = tuple(f.name for f in fields(StepState))
_STEP_INDEX = {name: i for i, name in enumerate(_STEP_FIELDS)}
_step_values = attrgetter(*_STEP_FIELDS)


_STEP_UPDATES = "_step_updates"
"""Key of the steps an event changed in a handler's changes (merged by `apply`)."""


def _copy_run(state: RunState, changes: dict[str, Any]) -> RunState:
    values = list(_run_values(state))
    for name, value in changes.items():
        values[_RUN_INDEX[name]] = value
    return RunState(*values)


def _copy_step(step: StepState, changes: dict[str, Any]) -> StepState:
    values = list(_step_values(step))
    for name, value in changes.items():
        values[_STEP_INDEX[name]] = value
    return StepState(*values)


def _put_step(
    state: RunState,
    changes: dict[str, Any],
    new: StepState,
    old: StepState | None,
    graph: Graph | None,
) -> None:
    """Record `new` in `changes` (`apply` merges it into the steps) and keep the counts
    current.

    Without the graph (`evolve` called without a context) the open-input counts cannot be
    kept when a flow step finishes: they are dropped, and recounted by whoever needs them.
    """
    updates = changes.setdefault(_STEP_UPDATES, {})
    updates[new.step] = new
    if new.role is StepRole.ITEM and new.parent_step is not None:
        _count_item(state, updates, new, old)
    tally = changes.get("tally") or tally_of(state)
    a, w, o = step_weight(new)
    if old is not None:
        a0, w0, o0 = step_weight(old)
        a, w, o = a - a0, w - w0, o - o0
    changes["tally"] = StepTally(tally.active + a, tally.waiting + w, tally.open_flow + o)
    if old is None or old.status.terminal or not new.status.terminal:
        return
    if graph is None:
        if new.role is StepRole.FLOW and state.open_inputs is not None:
            changes["open_inputs"] = None
        return
    outgoing = graph.outgoing.get(new.step)
    if not outgoing:
        return
    counts = changes.get("open_inputs", state.open_inputs)
    if counts is not None:
        counts = dict(counts)
        for edge in outgoing:
            if edge.target in counts:
                counts[edge.target] -= 1
        changes["open_inputs"] = counts


def _count_item(
    state: RunState, updates: dict[str, StepState], new: StepState, old: StepState | None
) -> None:
    """Keep the item counts of the foreach `new` belongs to (see `StepState.items_started`)."""
    started = old is None
    ended = new.status.terminal and (old is None or not old.status.terminal)
    if not (started or ended):
        return
    key = new.parent_step
    assert key is not None  # noqa: S101 - an item always has its foreach
    parent = updates.get(key) or state.steps[key]
    counts = {"items_started": parent.items_started + started}
    if ended:
        counts["items_done"] = parent.items_done + 1
        if new.status is StepStatus.SUCCEEDED:
            counts["item_output_bytes"] = parent.item_output_bytes + json_size(new.output) + 1
    updates[key] = _copy_step(parent, counts)


def _set_step(
    state: RunState, graph: Graph | None, key: str, **step_changes: Any
) -> dict[str, Any]:
    old = state.steps[key]
    changes: dict[str, Any] = {}
    _put_step(state, changes, _copy_step(old, step_changes), old, graph)
    return changes


Changes = dict[str, Any]
Handler = Callable[[RunState, Any, "Graph | None"], Changes]


def _run_started(e: RunStarted, pinned: PinnedDefinition) -> Changes:
    definition, graph = pinned.definition, pinned.graph
    restored = e.restored
    outputs = restored.outputs if restored else {}
    steps = {}
    for node_id in graph.flow_ids:
        node = graph.nodes[node_id]
        if node_id in outputs:
            steps[node_id] = StepState(
                node_id, node_id, node.type, status=StepStatus.SUCCEEDED,
                output=outputs[node_id], restored=True, queue=node.queue,
            )  # fmt: skip
        else:
            steps[node_id] = StepState(node_id, node_id, node.type, queue=node.queue)
    return {
        "run_id": e.run_id,
        "workflow": e.workflow,
        "version": e.version,
        "status": RunStatus.RUNNING,
        "definition": definition,
        "input": e.input,
        "limits": e.limits or DEFAULT_LIMITS,
        "vars": dict(e.vars),
        "steps": steps,
        "tally": count_steps(steps.values()),
        "open_inputs": count_open_inputs(graph, steps),
        "completed": tuple(s for s in (restored.order if restored else ()) if s in outputs),
        "started_at": e.at,
        "parent": e.parent,
        "replay_of": e.replay_of,
        "restored_items": dict(restored.items) if restored else {},
    }


def _step_scheduled(state: RunState, e: StepScheduled, graph: Graph | None) -> Changes:
    status = (
        StepStatus.WAITING
        if e.execution in WAITING_EXECUTIONS
        else StepStatus.RUNNING
        if e.execution in {Execution.FOREACH, Execution.AGENT}
        else StepStatus.SCHEDULED
    )
    previous = state.steps.get(e.step)
    base = previous or StepState(e.step, e.node_id, e.node_type)
    new = _copy_step(
        base,
        {
            "node_type": e.node_type,
            "role": e.role,
            "status": status,
            "attempt": e.attempt,
            "execution": e.execution,
            "queue": e.queue,
            "config": e.config,
            "scheduled_at": e.at
            if previous is None or previous.scheduled_at is None
            else base.scheduled_at,
            "started_at": None,
            "ended_at": None,
            "error": None,
            "parent_step": e.parent_step,
            "index": e.index,
            "child_run_id": e.child_run_id,
            "poll_state": e.poll_state,
        },
    )
    changes: Changes = {}
    _put_step(state, changes, new, previous, graph)
    return changes


def _item_restored(state: RunState, e: ItemRestored, graph: Graph | None) -> Changes:
    new = StepState(
        e.step, e.node_id, e.node_type, role=StepRole.ITEM, status=StepStatus.SUCCEEDED,
        ended_at=e.at, output=e.output, parent_step=e.parent_step, index=e.index, restored=True,
    )  # fmt: skip
    changes: Changes = {}
    _put_step(state, changes, new, None, graph)
    return changes


def _step_started(state: RunState, e: StepStarted, graph: Graph | None) -> Changes:
    return _set_step(state, graph, e.step, status=StepStatus.RUNNING, started_at=e.at)


def _step_succeeded(state: RunState, e: StepSucceeded, graph: Graph | None) -> Changes:
    step = state.steps[e.step]
    changes = _set_step(
        state, graph, e.step, status=StepStatus.SUCCEEDED, output=e.output, ended_at=e.at
    )
    if e.vars:
        changes["vars"] = {**state.vars, **e.vars}
    if e.consumed_signal:
        changes["signals"] = tuple(s for s in state.signals if s.signal_id != e.consumed_signal)
    if step.role is StepRole.FLOW:
        changes["completed"] = (*state.completed, e.step)
    return changes


def _step_failed(state: RunState, e: StepFailed, graph: Graph | None) -> Changes:
    return _set_step(state, graph, e.step, status=StepStatus.FAILED, error=e.error, ended_at=e.at)


def _step_retry(state: RunState, e: StepRetryScheduled, graph: Graph | None) -> Changes:
    return _set_step(state, graph, e.step, status=StepStatus.BACKOFF, error=e.error)


def _step_poll(state: RunState, e: StepPollScheduled, graph: Graph | None) -> Changes:
    step = state.steps[e.step]
    return _set_step(
        state, graph, e.step, status=StepStatus.BACKOFF, polls=step.polls + 1, poll_state=e.state
    )


def _step_skipped(state: RunState, e: StepSkipped, graph: Graph | None) -> Changes:
    return _set_step(
        state, graph, e.step, status=StepStatus.SKIPPED, skip_reason=e.reason, ended_at=e.at
    )


def _step_timed_out(state: RunState, e: StepTimedOut, graph: Graph | None) -> Changes:
    timeout = StepError(type="Timeout", message=f"attempt {e.attempt} timed out")
    return _set_step(state, graph, e.step, error=timeout)


def _step_cancelled(state: RunState, e: StepCancelled, graph: Graph | None) -> Changes:
    return _set_step(
        state, graph, e.step, status=StepStatus.CANCELLED, skip_reason=e.reason, ended_at=e.at
    )


def _timer_scheduled(state: RunState, e: TimerScheduled, _graph: Graph | None) -> Changes:
    timers = dict(state.timers)
    timers[e.timer_id] = Timer(e.timer_id, e.kind, e.step, e.attempt, e.fire_at)
    return {"timers": timers}


def _timer_gone(state: RunState, e: TimerFired | TimerCancelled, _graph: Graph | None) -> Changes:
    if e.timer_id not in state.timers:
        return {}
    timers = dict(state.timers)
    del timers[e.timer_id]
    return {"timers": timers}


def _signal_received(state: RunState, e: SignalReceived, _graph: Graph | None) -> Changes:
    return {"signals": (*state.signals, BufferedSignal(e.signal_id, e.name, e.data))}


def _unchanged(_state: RunState, _e: Event, _graph: Graph | None) -> Changes:
    return {}


def _compensation_started(
    _state: RunState, e: CompensationStarted, _graph: Graph | None
) -> Changes:
    return {"unwinding": Unwinding(RunStatus(e.outcome), e.error, e.order), "error": e.error}


def _outcome_changed(state: RunState, e: UnwindingOutcomeChanged, _graph: Graph | None) -> Changes:
    unwinding = state.unwinding
    if unwinding is None:
        return {}
    return {
        "unwinding": Unwinding(
            RunStatus(e.outcome), e.error, unwinding.order, unwinding.done, unwinding.failed
        ),
        "error": e.error,
    }


def _compensation_done(
    state: RunState, e: CompensationSucceeded | CompensationFailed, _graph: Graph | None
) -> Changes:
    unwinding = state.unwinding
    if unwinding is None:
        return {}
    failed = (
        (*unwinding.failed, e.for_step) if isinstance(e, CompensationFailed) else unwinding.failed
    )
    return {
        "unwinding": Unwinding(
            unwinding.outcome, unwinding.error, unwinding.order, (*unwinding.done, e.for_step),
            failed,
        )
    }  # fmt: skip


def _ended(status: RunStatus) -> Handler:
    def apply(state: RunState, e: Any, _graph: Graph | None) -> Changes:
        output = e.output if isinstance(e, RunSucceeded) else None
        error = e.error if isinstance(e, RunFailed | RunCompensated) else state.error
        return {"status": status, "output": output, "error": error, "ended_at": e.at}

    return apply


_HANDLERS: dict[type[Event], Handler] = {
    StepScheduled: _step_scheduled,
    ItemRestored: _item_restored,
    StepStarted: _step_started,
    StepSucceeded: _step_succeeded,
    StepFailed: _step_failed,
    StepRetryScheduled: _step_retry,
    StepPollScheduled: _step_poll,
    StepSkipped: _step_skipped,
    StepTimedOut: _step_timed_out,
    StepCancelled: _step_cancelled,
    TimerScheduled: _timer_scheduled,
    TimerFired: _timer_gone,
    TimerCancelled: _timer_gone,
    ApprovalRequested: _unchanged,
    ApprovalDecided: _unchanged,
    SignalReceived: _signal_received,
    CompensationStarted: _compensation_started,
    UnwindingOutcomeChanged: _outcome_changed,
    CompensationSucceeded: _compensation_done,
    CompensationFailed: _compensation_done,
    RunSucceeded: _ended(RunStatus.SUCCEEDED),
    RunFailed: _ended(RunStatus.FAILED),
    RunCompensated: _ended(RunStatus.COMPENSATED),
    RunCancelled: _ended(RunStatus.CANCELLED),
}


def evolve(state: RunState, event: Event, context: RunContext | None = None) -> RunState:
    """The state after one more event. Pure: the same inputs always give the same state.

    `context` (the run's) lets a RunStarted reuse the parsed definition and keeps the
    open-input counts; without it the result is equal, only computed with more work.
    """
    pinned = context.pinned if context is not None else None
    if (
        pinned is not None
        and isinstance(event, RunStarted)
        and not pinned.records(event.definition)
    ):
        pinned = None
    return apply(state, event, pinned)


def apply(
    state: RunState,
    event: Event,
    pinned: PinnedDefinition | None,
    *,
    owns_steps: bool = False,
) -> RunState:
    """`evolve` with the run's pinned definition known to be the right one (the decider).

    `owns_steps` says no one else sees `state.steps` (the caller made it while folding or
    deciding): the step is then updated in place instead of copying the whole map, so
    deciding or folding n events of a run with n steps costs O(n), not O(n²) (a foreach
    of 10,000 items copied a 10,000-entry map 20,000 times).
    """
    if isinstance(event, RunStarted):
        changes = _run_started(event, pinned or PinnedDefinition.from_wire(event.definition))
    else:
        changes = _HANDLERS[type(event)](state, event, pinned.graph if pinned else None)
    updates = changes.pop(_STEP_UPDATES, None)
    if updates:
        steps = state.steps if owns_steps else dict(state.steps)
        steps.update(updates)
        changes["steps"] = steps
    command_id = event.command_id
    applied = changes.get("applied", state.applied)
    if command_id is not None and command_id not in applied:
        changes["applied"] = applied | {command_id}
    changes["last_seq"] = state.last_seq + 1
    status = changes.get("status", state.status)
    if status is RunStatus.RUNNING or status is RunStatus.WAITING:
        tally = changes.get("tally") or tally_of(state)
        changes["tally"] = tally
        live = live_status(status, tally)
        if live is not status:
            changes["status"] = live
    return _copy_run(state, changes)


def fold(
    events: Iterable[Event], state: RunState | None = None, context: RunContext | None = None
) -> RunState:
    """Fold events into a state (from a snapshot `state`, or from the empty state).

    The definition a RunStarted among `events` pins is parsed once and used for the events
    after it, so a whole history keeps its counts even without a context.
    """
    current = state if state is not None else RunState()
    pinned = context.pinned if context is not None else None
    owned: dict[str, StepState] | None = None
    for event in events:
        if isinstance(event, RunStarted) and (
            pinned is None or not pinned.records(event.definition)
        ):
            pinned = PinnedDefinition.from_wire(event.definition)
        before = current
        current = apply(current, event, pinned, owns_steps=current.steps is owned)
        if current.steps is not before.steps:
            owned = current.steps  # made by this fold: no one else holds it
    return current
