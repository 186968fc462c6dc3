"""The state of one run, and `evolve`, the pure fold of events into it.

`RunState` is an immutable value: `evolve` returns a new one and never mutates its
argument (dicts inside are copied on write, never changed in place). Everything a
projection needs is here: run and step statuses, attempts, times, outputs, errors, vars.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, NamedTuple

from tideflow.core._definition import WorkflowDefinition
from tideflow.core._events import (
    ApprovalDecided,
    ApprovalRequested,
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    Event,
    ParentLink,
    ReplayOrigin,
    RunCancelled,
    RunCompensated,
    RunError,
    RunFailed,
    RunStarted,
    RunSucceeded,
    SignalReceived,
    StepCancelled,
    StepError,
    StepFailed,
    StepRetryScheduled,
    StepRole,
    StepScheduled,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    TimerCancelled,
    TimerFired,
    TimerKind,
    TimerScheduled,
)
from tideflow.core._graph import Graph
from tideflow.core._limits import DEFAULT_LIMITS, Limits
from tideflow.core.nodes import Execution


class RunStatus(StrEnum):
    """Where a run is; the last four are terminal."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    COMPENSATED = "compensated"

    @property
    def terminal(self) -> bool:
        """Whether nothing can happen to the run any more."""
        return self in _TERMINAL_RUN


_TERMINAL_RUN = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.COMPENSATED}
)


class StepStatus(StrEnum):
    """Where a step is; succeeded, failed, skipped and cancelled are terminal."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    WAITING = "waiting"
    BACKOFF = "backoff"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the step is finished one way or another."""
        return self in _TERMINAL_STEP


_TERMINAL_STEP = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)
_WAITING_EXECUTIONS = frozenset(
    {Execution.TIMER, Execution.SIGNAL, Execution.APPROVAL, Execution.CHILD}
)


@dataclass(frozen=True, slots=True)
class StepState:
    """One step: a flow node, a foreach item (`each[3]`) or a compensation (`save.compensate`)."""

    step: str
    node_id: str
    node_type: str
    role: StepRole = StepRole.FLOW
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    execution: Execution | None = None
    queue: str = "default"
    config: Any = None
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output: Any = None
    error: StepError | None = None
    skip_reason: str | None = None
    parent_step: str | None = None
    index: int | None = None
    child_run_id: str | None = None
    restored: bool = False


@dataclass(frozen=True, slots=True)
class Timer:
    """An active durable timer."""

    timer_id: str
    kind: TimerKind
    step: str
    attempt: int
    fire_at: datetime


@dataclass(frozen=True, slots=True)
class BufferedSignal:
    """A signal no step has consumed yet."""

    signal_id: str
    name: str
    data: Any


@dataclass(frozen=True, slots=True)
class Unwinding:
    """A saga in progress: the outcome it ends with and the compensation order."""

    outcome: RunStatus
    error: RunError | None
    order: tuple[str, ...]
    done: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


class StepTally(NamedTuple):
    """How many steps are in each kind of status: the run status follows from these."""

    active: int = 0
    """Scheduled or running."""
    waiting: int = 0
    """Waiting (timer, signal, approval, child run) or in retry backoff."""
    open_flow: int = 0
    """Flow steps not yet terminal: the run may finish when this reaches zero."""


@dataclass(frozen=True, slots=True)
class RunState:
    """Everything known about a run after `last_seq` events."""

    run_id: str = ""
    workflow: str = ""
    version: int = 0
    status: RunStatus = RunStatus.PENDING
    definition: WorkflowDefinition | None = None
    input: Any = None
    vars: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepState] = field(default_factory=dict)
    timers: dict[str, Timer] = field(default_factory=dict)
    signals: tuple[BufferedSignal, ...] = ()
    completed: tuple[str, ...] = ()
    """Flow steps in the order they succeeded: the saga unwinds in reverse."""
    unwinding: Unwinding | None = None
    output: Any = None
    error: RunError | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    parent: ParentLink | None = None
    replay_of: ReplayOrigin | None = None
    limits: Limits = DEFAULT_LIMITS
    applied: frozenset[str] = frozenset()
    last_seq: int = 0
    graph: Graph | None = field(default=None, compare=False, repr=False)
    tally: StepTally | None = field(default=None, compare=False, repr=False)
    """Step counts by kind, kept up to date by `evolve` (None: recounted when needed)."""
    open_inputs: dict[str, int] | None = field(default=None, compare=False, repr=False)
    """Per flow node, incoming edges whose source has not finished (kept by `evolve`)."""
    memo: dict[Any, Any] | None = field(default=None, compare=False, repr=False)
    """Per-run cache of values fixed by RunStarted, shared by every state of the run."""

    def step(self, key: str) -> StepState:
        """The step with this key (KeyError if it does not exist yet)."""
        return self.steps[key]


_ACTIVE = frozenset({StepStatus.SCHEDULED, StepStatus.RUNNING})
_WAITING = frozenset({StepStatus.WAITING, StepStatus.BACKOFF})


def _weight(step: StepState) -> tuple[int, int, int]:
    status = step.status
    return (
        status in _ACTIVE,
        status in _WAITING,
        step.role is StepRole.FLOW and status not in _TERMINAL_STEP,
    )


def count_steps(steps: Iterable[StepState]) -> StepTally:
    """The tally of a set of steps, counted from scratch (snapshots, hand-made states)."""
    active = waiting = open_flow = 0
    for step in steps:
        a, w, o = _weight(step)
        active += a
        waiting += w
        open_flow += o
    return StepTally(active, waiting, open_flow)


def tally_of(state: RunState) -> StepTally:
    """The state's tally, counting the steps only when no one has kept it."""
    return state.tally if state.tally is not None else count_steps(state.steps.values())


def count_open_inputs(graph: Graph, steps: dict[str, StepState]) -> dict[str, int]:
    """Per flow node, the incoming edges whose source step is not terminal yet."""
    return {
        node_id: sum(
            1
            for edge in graph.incoming[node_id]
            if edge.source not in steps or not steps[edge.source].status.terminal
        )
        for node_id in graph.flow_ids
    }


def open_inputs_of(state: RunState) -> dict[str, int] | None:
    """The state's open-input counts, counted afresh when no one has kept them."""
    if state.open_inputs is not None:
        return state.open_inputs
    return None if state.graph is None else count_open_inputs(state.graph, state.steps)


# ---- fast copies --------------------------------------------------------------------------
# `dataclasses.replace` re-validates every field by name; on the hot path we copy the field
# tuple once and change the few fields an event touches.

_RUN_FIELDS = tuple(f.name for f in fields(RunState))
_RUN_INDEX = {name: i for i, name in enumerate(_RUN_FIELDS)}
_run_values = attrgetter(*_RUN_FIELDS)
_STEP_FIELDS = tuple(f.name for f in fields(StepState))
_STEP_INDEX = {name: i for i, name in enumerate(_STEP_FIELDS)}
_step_values = attrgetter(*_STEP_FIELDS)


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
    state: RunState, changes: dict[str, Any], new: StepState, old: StepState | None
) -> None:
    """Record `new` in `changes` (copying the steps once) and keep the tally current."""
    steps = changes.get("steps")
    if steps is None:
        steps = changes["steps"] = dict(state.steps)
    steps[new.step] = new
    tally = changes.get("tally") or tally_of(state)
    a, w, o = _weight(new)
    if old is not None:
        a0, w0, o0 = _weight(old)
        a, w, o = a - a0, w - w0, o - o0
    changes["tally"] = StepTally(tally.active + a, tally.waiting + w, tally.open_flow + o)
    graph = state.graph
    if (
        graph is not None
        and old is not None
        and not old.status.terminal
        and new.status.terminal
        and graph.outgoing.get(new.step)
    ):
        counts = changes.get("open_inputs") or open_inputs_of(state)
        if counts is not None:
            counts = dict(counts)
            for edge in graph.outgoing[new.step]:
                if edge.target in counts:
                    counts[edge.target] -= 1
            changes["open_inputs"] = counts


def _set_step(state: RunState, key: str, **step_changes: Any) -> dict[str, Any]:
    old = state.steps[key]
    changes: dict[str, Any] = {}
    _put_step(state, changes, _copy_step(old, step_changes), old)
    return changes


Changes = dict[str, Any]


_PARSED_LIMIT = 256
_parsed: dict[int, tuple[dict[str, Any], WorkflowDefinition, Graph]] = {}


def pinned_definition(wire: dict[str, Any]) -> tuple[WorkflowDefinition, Graph]:
    """The definition and graph of a RunStarted, parsed once per pinned definition.

    The runs a decider starts from one definition share the parts of its wire form (the
    `spec` mapping and the rest), and nobody modifies an event's data, so parts that are
    the very same objects parse to the same definition. An entry keeps those objects
    alive, so their ids cannot be reused while it lives. Events read back from a store
    are new objects: they are parsed (and then remembered) as usual.
    """
    hit = _parsed.get(id(wire.get("spec")))
    if (
        hit is not None
        and hit[0].keys() == wire.keys()
        and all(hit[0][key] is value for key, value in wire.items())
    ):
        return hit[1], hit[2]
    definition = WorkflowDefinition.model_validate(wire)
    graph = Graph(definition)
    if len(_parsed) >= _PARSED_LIMIT:
        _parsed.pop(next(iter(_parsed)), None)
    _parsed[id(wire.get("spec"))] = (dict(wire), definition, graph)
    return definition, graph


def _run_started(_state: RunState, e: RunStarted) -> Changes:
    definition, graph = pinned_definition(e.definition)
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
        "graph": graph,
        "input": e.input,
        "limits": e.limits or DEFAULT_LIMITS,
        "vars": dict(e.vars),
        "steps": steps,
        "tally": count_steps(steps.values()),
        "open_inputs": count_open_inputs(graph, steps),
        "memo": {},
        "completed": tuple(s for s in (restored.order if restored else ()) if s in outputs),
        "started_at": e.at,
        "parent": e.parent,
        "replay_of": e.replay_of,
    }


def _step_scheduled(state: RunState, e: StepScheduled) -> Changes:
    status = (
        StepStatus.WAITING
        if e.execution in _WAITING_EXECUTIONS
        else StepStatus.RUNNING
        if e.execution is Execution.FOREACH
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
        },
    )
    changes: Changes = {}
    _put_step(state, changes, new, previous)
    return changes


def _step_started(state: RunState, e: StepStarted) -> Changes:
    return _set_step(state, e.step, status=StepStatus.RUNNING, started_at=e.at)


def _step_succeeded(state: RunState, e: StepSucceeded) -> Changes:
    step = state.steps[e.step]
    changes = _set_step(state, e.step, status=StepStatus.SUCCEEDED, output=e.output, ended_at=e.at)
    if e.vars:
        changes["vars"] = {**state.vars, **e.vars}
    if e.consumed_signal:
        changes["signals"] = tuple(s for s in state.signals if s.signal_id != e.consumed_signal)
    if step.role is StepRole.FLOW:
        changes["completed"] = (*state.completed, e.step)
    return changes


def _step_failed(state: RunState, e: StepFailed) -> Changes:
    return _set_step(state, e.step, status=StepStatus.FAILED, error=e.error, ended_at=e.at)


def _step_retry(state: RunState, e: StepRetryScheduled) -> Changes:
    return _set_step(state, e.step, status=StepStatus.BACKOFF, error=e.error)


def _step_skipped(state: RunState, e: StepSkipped) -> Changes:
    return _set_step(state, e.step, status=StepStatus.SKIPPED, skip_reason=e.reason, ended_at=e.at)


def _step_timed_out(state: RunState, e: StepTimedOut) -> Changes:
    timeout = StepError(type="Timeout", message=f"attempt {e.attempt} timed out")
    return _set_step(state, e.step, error=timeout)


def _step_cancelled(state: RunState, e: StepCancelled) -> Changes:
    return _set_step(
        state, e.step, status=StepStatus.CANCELLED, skip_reason=e.reason, ended_at=e.at
    )


def _timer_scheduled(state: RunState, e: TimerScheduled) -> Changes:
    timers = dict(state.timers)
    timers[e.timer_id] = Timer(e.timer_id, e.kind, e.step, e.attempt, e.fire_at)
    return {"timers": timers}


def _timer_gone(state: RunState, e: TimerFired | TimerCancelled) -> Changes:
    if e.timer_id not in state.timers:
        return {}
    timers = dict(state.timers)
    del timers[e.timer_id]
    return {"timers": timers}


def _signal_received(state: RunState, e: SignalReceived) -> Changes:
    return {"signals": (*state.signals, BufferedSignal(e.signal_id, e.name, e.data))}


def _unchanged(_state: RunState, _e: Event) -> Changes:
    return {}


def _compensation_started(_state: RunState, e: CompensationStarted) -> Changes:
    return {"unwinding": Unwinding(RunStatus(e.outcome), e.error, e.order), "error": e.error}


def _compensation_done(state: RunState, e: CompensationSucceeded | CompensationFailed) -> Changes:
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


def _ended(status: RunStatus) -> Callable[[RunState, Any], Changes]:
    def apply(state: RunState, e: Any) -> Changes:
        output = e.output if isinstance(e, RunSucceeded) else None
        error = e.error if isinstance(e, RunFailed | RunCompensated) else state.error
        return {"status": status, "output": output, "error": error, "ended_at": e.at}

    return apply


_HANDLERS: dict[type[Event], Callable[[RunState, Any], Changes]] = {
    RunStarted: _run_started,
    StepScheduled: _step_scheduled,
    StepStarted: _step_started,
    StepSucceeded: _step_succeeded,
    StepFailed: _step_failed,
    StepRetryScheduled: _step_retry,
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
    CompensationSucceeded: _compensation_done,
    CompensationFailed: _compensation_done,
    RunSucceeded: _ended(RunStatus.SUCCEEDED),
    RunFailed: _ended(RunStatus.FAILED),
    RunCompensated: _ended(RunStatus.COMPENSATED),
    RunCancelled: _ended(RunStatus.CANCELLED),
}


def live_status(status: RunStatus, tally: StepTally) -> RunStatus:
    """A live run is running while any step is active, else waiting while any step waits."""
    if status.terminal or status is RunStatus.PENDING:
        return status
    if tally.active:
        return RunStatus.RUNNING
    return RunStatus.WAITING if tally.waiting else RunStatus.RUNNING


# ---- the evolve memo ------------------------------------------------------------------------
# `decide` evolves its own copy of the state after every event it emits, and the caller then
# evolves the same state with the same events. The decider records the transitions of the
# latest decision here, so the caller's `evolve` returns the very state the decider computed
# instead of computing it again. Keys are object ids, and every entry holds the objects
# themselves, so an id cannot be reused while its entry lives; states and events are
# immutable, so a hit is exactly what evolving again would give. A miss (another decision
# came in between, another thread) only costs the computation.

_RECENT_LIMIT = 2048
_recent: dict[tuple[int, int], tuple[RunState, Event, RunState]] = {}


def forget_transitions() -> None:
    """Drop the transitions of the previous decision (a new one begins)."""
    _recent.clear()


def remember(before: RunState, event: Event, after: RunState) -> None:
    """Record that `evolve(before, event)` is `after` (called by the decider)."""
    if len(_recent) < _RECENT_LIMIT:
        _recent[id(before), id(event)] = (before, event, after)


def evolve(state: RunState, event: Event) -> RunState:
    """The state after one more event. Pure: the same inputs always give the same state."""
    hit = _recent.get((id(state), id(event)))
    if hit is not None and hit[0] is state and hit[1] is event:
        return hit[2]
    return compute(state, event)


def compute(state: RunState, event: Event) -> RunState:
    """`evolve` without the memo: one copy of the state with the fields the event changes."""
    changes = _HANDLERS[type(event)](state, event)
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


def fold(events: Iterable[Event], state: RunState | None = None) -> RunState:
    """Fold events into a state (from a snapshot `state`, or from the empty state)."""
    current = state if state is not None else RunState()
    for event in events:
        current = compute(current, event)
    return current
