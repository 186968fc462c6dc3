"""The state of one run: an immutable value that `evolve` (in `_evolve`) folds events into.

`RunState` never changes in place: `evolve` returns a new one (dicts inside are copied on
write). Everything a projection needs is here: run and step statuses, attempts, times,
outputs, errors, vars. Derived counts (`tally`, `open_inputs`) are kept alongside so the
decider need not rescan every step; they never take part in equality. The parsed graph is
not part of the state: it travels in the caller's `RunContext`.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from tideflow.core._definition import WorkflowDefinition
from tideflow.core._events import (
    ParentLink,
    ReplayOrigin,
    RestoredItem,
    RunError,
    StepError,
    StepRole,
    TimerKind,
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
WAITING_EXECUTIONS = frozenset(
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
    items_started: int = 0
    """For a foreach: items started so far (always items 0 .. n-1, in order)."""
    items_done: int = 0
    """For a foreach: items that reached an end (succeeded, failed, cancelled, skipped)."""
    item_output_bytes: int = 0
    """For a foreach: the bytes its succeeded items take in its combined output (each
    output plus one separator), so a foreach whose output outgrows its limit fails at the
    item that crossed it, not after every item has written its output.

    The three item counts let a foreach go on without scanning its n items per decision.
    They are derived, never stored: folding the items' events (or loading a snapshot)
    recomputes them."""
    polls: int = 0
    """Attempts that ended asking to be polled again (they do not count as retries)."""
    poll_state: Any = None


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
    restored_items: dict[str, dict[int, RestoredItem]] = field(default_factory=dict)
    """A forked run's foreach items that had succeeded in its source (`Restored.items`)."""
    limits: Limits = DEFAULT_LIMITS
    applied: frozenset[str] = frozenset()
    last_seq: int = 0
    tally: StepTally | None = field(default=None, compare=False, repr=False)
    """Step counts by kind, kept up to date by `evolve` (None: recounted when needed)."""
    open_inputs: dict[str, int] | None = field(default=None, compare=False, repr=False)
    """Per flow node, incoming edges whose source has not finished (kept by `evolve`)."""

    def step(self, key: str) -> StepState:
        """The step with this key (KeyError if it does not exist yet)."""
        return self.steps[key]


_ACTIVE = frozenset({StepStatus.SCHEDULED, StepStatus.RUNNING})
_WAITING = frozenset({StepStatus.WAITING, StepStatus.BACKOFF})


def step_weight(step: StepState) -> tuple[int, int, int]:
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
        a, w, o = step_weight(step)
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


def with_counts(state: RunState, graph: Graph | None) -> RunState:
    """`state` with its kept counts filled in where missing (snapshots, hand-made states)."""
    tally = state.tally if state.tally is not None else count_steps(state.steps.values())
    open_inputs = state.open_inputs
    if open_inputs is None and graph is not None and state.definition is not None:
        open_inputs = count_open_inputs(graph, state.steps)
    if tally is state.tally and open_inputs is state.open_inputs:
        return state
    return replace(state, tally=tally, open_inputs=open_inputs)


def live_status(status: RunStatus, tally: StepTally) -> RunStatus:
    """A live run is running while any step is active, else waiting while any step waits."""
    if status.terminal or status is RunStatus.PENDING:
        return status
    if tally.active:
        return RunStatus.RUNNING
    return RunStatus.WAITING if tally.waiting else RunStatus.RUNNING
