"""The state of one run, and `evolve`, the pure fold of events into it.

`RunState` is an immutable value: `evolve` returns a new one and never mutates its
argument (dicts inside are copied on write, never changed in place). Everything a
projection needs is here: run and step statuses, attempts, times, outputs, errors, vars.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

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
    applied: frozenset[str] = frozenset()
    last_seq: int = 0
    graph: Graph | None = field(default=None, compare=False, repr=False)

    def step(self, key: str) -> StepState:
        """The step with this key (KeyError if it does not exist yet)."""
        return self.steps[key]


def _set_step(state: RunState, key: str, **changes: Any) -> dict[str, StepState]:
    steps = dict(state.steps)
    steps[key] = replace(steps[key], **changes)
    return steps


def _run_started(state: RunState, e: RunStarted) -> RunState:
    definition = WorkflowDefinition.model_validate(e.definition)
    graph = Graph(definition)
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
    return replace(
        state,
        run_id=e.run_id,
        workflow=e.workflow,
        version=e.version,
        status=RunStatus.RUNNING,
        definition=definition,
        graph=graph,
        input=e.input,
        vars=dict(e.vars),
        steps=steps,
        completed=tuple(s for s in (restored.order if restored else ()) if s in outputs),
        started_at=e.at,
        parent=e.parent,
        replay_of=e.replay_of,
    )


def _step_scheduled(state: RunState, e: StepScheduled) -> RunState:
    steps = dict(state.steps)
    status = (
        StepStatus.WAITING
        if e.execution in _WAITING_EXECUTIONS
        else StepStatus.RUNNING
        if e.execution is Execution.FOREACH
        else StepStatus.SCHEDULED
    )
    previous = steps.get(e.step)
    base = previous or StepState(e.step, e.node_id, e.node_type)
    steps[e.step] = replace(
        base,
        node_type=e.node_type,
        role=e.role,
        status=status,
        attempt=e.attempt,
        execution=e.execution,
        queue=e.queue,
        config=e.config,
        scheduled_at=e.at
        if previous is None or previous.scheduled_at is None
        else base.scheduled_at,
        started_at=None,
        ended_at=None,
        error=None,
        parent_step=e.parent_step,
        index=e.index,
        child_run_id=e.child_run_id,
    )
    return replace(state, steps=steps)


def _step_started(state: RunState, e: StepStarted) -> RunState:
    return replace(
        state, steps=_set_step(state, e.step, status=StepStatus.RUNNING, started_at=e.at)
    )


def _step_succeeded(state: RunState, e: StepSucceeded) -> RunState:
    step = state.steps[e.step]
    steps = _set_step(state, e.step, status=StepStatus.SUCCEEDED, output=e.output, ended_at=e.at)
    variables = {**state.vars, **e.vars} if e.vars else state.vars
    signals = (
        tuple(s for s in state.signals if s.signal_id != e.consumed_signal)
        if e.consumed_signal
        else state.signals
    )
    completed = (*state.completed, e.step) if step.role is StepRole.FLOW else state.completed
    return replace(state, steps=steps, vars=variables, signals=signals, completed=completed)


def _step_failed(state: RunState, e: StepFailed) -> RunState:
    return replace(
        state,
        steps=_set_step(state, e.step, status=StepStatus.FAILED, error=e.error, ended_at=e.at),
    )


def _step_retry(state: RunState, e: StepRetryScheduled) -> RunState:
    return replace(state, steps=_set_step(state, e.step, status=StepStatus.BACKOFF, error=e.error))


def _step_skipped(state: RunState, e: StepSkipped) -> RunState:
    return replace(
        state,
        steps=_set_step(
            state, e.step, status=StepStatus.SKIPPED, skip_reason=e.reason, ended_at=e.at
        ),
    )


def _step_timed_out(state: RunState, e: StepTimedOut) -> RunState:
    timeout = StepError(type="Timeout", message=f"attempt {e.attempt} timed out")
    return replace(state, steps=_set_step(state, e.step, error=timeout))


def _step_cancelled(state: RunState, e: StepCancelled) -> RunState:
    return replace(
        state,
        steps=_set_step(
            state, e.step, status=StepStatus.CANCELLED, skip_reason=e.reason, ended_at=e.at
        ),
    )


def _timer_scheduled(state: RunState, e: TimerScheduled) -> RunState:
    timers = dict(state.timers)
    timers[e.timer_id] = Timer(e.timer_id, e.kind, e.step, e.attempt, e.fire_at)
    return replace(state, timers=timers)


def _timer_gone(state: RunState, e: TimerFired | TimerCancelled) -> RunState:
    timers = dict(state.timers)
    timers.pop(e.timer_id, None)
    return replace(state, timers=timers)


def _signal_received(state: RunState, e: SignalReceived) -> RunState:
    return replace(state, signals=(*state.signals, BufferedSignal(e.signal_id, e.name, e.data)))


def _unchanged(state: RunState, _e: Event) -> RunState:
    return state


def _compensation_started(state: RunState, e: CompensationStarted) -> RunState:
    return replace(
        state, unwinding=Unwinding(RunStatus(e.outcome), e.error, e.order), error=e.error
    )


def _compensation_done(state: RunState, e: CompensationSucceeded | CompensationFailed) -> RunState:
    unwinding = state.unwinding
    if unwinding is None:
        return state
    failed = (
        (*unwinding.failed, e.for_step) if isinstance(e, CompensationFailed) else unwinding.failed
    )
    return replace(
        state, unwinding=replace(unwinding, done=(*unwinding.done, e.for_step), failed=failed)
    )


def _ended(status: RunStatus) -> Callable[[RunState, Any], RunState]:
    def apply(state: RunState, e: Any) -> RunState:
        output = e.output if isinstance(e, RunSucceeded) else None
        error = e.error if isinstance(e, RunFailed | RunCompensated) else state.error
        return replace(state, status=status, output=output, error=error, ended_at=e.at)

    return apply


_HANDLERS: dict[type[Event], Callable[[RunState, Any], RunState]] = {
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


def _live_status(state: RunState) -> RunStatus:
    if state.status.terminal or state.status is RunStatus.PENDING:
        return state.status
    waiting = False
    for step in state.steps.values():
        if step.status in {StepStatus.SCHEDULED, StepStatus.RUNNING}:
            return RunStatus.RUNNING
        if step.status in {StepStatus.WAITING, StepStatus.BACKOFF}:
            waiting = True
    return RunStatus.WAITING if waiting else RunStatus.RUNNING


def evolve(state: RunState, event: Event) -> RunState:
    """The state after one more event. Pure: the same inputs always give the same state."""
    new = _HANDLERS[type(event)](state, event)
    applied = (
        new.applied | {event.command_id}
        if event.command_id is not None and event.command_id not in new.applied
        else new.applied
    )
    new = replace(new, applied=applied, last_seq=state.last_seq + 1)
    status = _live_status(new)
    return new if status is new.status else replace(new, status=status)


def fold(events: Iterable[Event], state: RunState | None = None) -> RunState:
    """Fold events into a state (from a snapshot `state`, or from the empty state)."""
    current = state if state is not None else RunState()
    for event in events:
        current = evolve(current, event)
    return current
