"""Run events: what happened to a run, in the past tense, frozen.

Events are stored as `(type, data)` where `type` is the class name and `data` the
camelCase JSON of the model (`event_to_record` / `event_from_record`). They do not carry
their `seq`: the store numbers them per run; `RunState.last_seq` counts what was folded.
Every event of one decision carries the id of the command that caused it, which is how a
redelivered command is recognised (idempotency lives in the state, not in the transport).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tideflow.core._durations import Duration
from tideflow.core._limits import Limits
from tideflow.core.nodes import Execution


class RecordModel(BaseModel):
    """Frozen camelCase models for events, commands and their parts."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class StepRole(StrEnum):
    """Why a step exists: a node of the flow, one item of a foreach, or a compensation."""

    FLOW = "flow"
    ITEM = "item"
    COMPENSATION = "compensation"


class TimerKind(StrEnum):
    """What a durable timer is for."""

    RETRY = "retry"
    DELAY = "delay"
    STEP_TIMEOUT = "step_timeout"
    SCHEDULE_TO_START = "schedule_to_start"
    """A dispatched attempt no worker has started in time fails (`scheduleToStartTimeout`)."""
    FOREACH_CONTINUE = "foreach_continue"
    """Due at once: a foreach that started its share of items in one decision starts the
    next share in a later one, so other runs are decided in between."""
    POLL = "poll"
    """A worker asked to be called again later (a long outside job): dispatch once more."""


class StepError(RecordModel):
    """Why an attempt failed; `retryable` is the worker's verdict, the policy has the last word."""

    type: str
    message: str
    retryable: bool = True


class RunError(RecordModel):
    """Why a run failed: the step (if any) and its error."""

    step: str | None = None
    type: str
    message: str


class ParentLink(RecordModel):
    """The parent run and step of a child run started by a `subworkflow` node."""

    run_id: str
    step: str
    attempt: int
    depth: int = 1
    """How deep the child run is nested (1: a child of a top-level run)."""


class ReplayOrigin(RecordModel):
    """The run and event position a replayed run was forked from."""

    run_id: str
    seq: int


class RestoredItem(RecordModel):
    """A foreach item that had succeeded in the source run of a fork: its item and output."""

    item: Any = None
    output: Any = None


class Restored(RecordModel):
    """Step outputs and variables carried over into a forked run."""

    outputs: dict[str, Any] = Field(default_factory=dict)
    order: tuple[str, ...] = ()
    vars: dict[str, Any] | None = None
    items: dict[str, dict[int, RestoredItem]] = Field(default_factory=dict)
    """Per foreach still running at the fork, its items that had succeeded, by index."""


class Event(RecordModel):
    """Base of all run events."""

    type: ClassVar[str]
    at: datetime
    command_id: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = cls.__name__


class RunStarted(Event):
    """A run began, pinned to a definition version (`restored` when forked)."""

    run_id: str
    workflow: str
    version: int
    definition: dict[str, Any]
    input: Any = None
    vars: dict[str, Any] = Field(default_factory=dict)
    parent: ParentLink | None = None
    replay_of: ReplayOrigin | None = None
    restored: Restored | None = None
    limits: Limits | None = None
    """The engine limits the run decides under (None in logs older than limits: defaults)."""


class StepScheduled(Event):
    """An attempt of a step was started; for worker steps this is the task to dispatch.

    `config` has every template resolved except the secret ones at `secret_paths`.
    """

    step: str
    node_id: str
    node_type: str
    execution: Execution
    role: StepRole = StepRole.FLOW
    attempt: int
    queue: str = "default"
    config: Any = None
    secret_paths: tuple[tuple[str | int, ...], ...] = ()
    timeout: Duration | None = None
    deadline: datetime | None = None
    idempotency_key: str | None = None
    parent_step: str | None = None
    index: int | None = None
    child_run_id: str | None = None
    start_by: datetime | None = None
    """A dispatched attempt that no worker started by then fails (`ScheduleToStartTimeout`)."""
    poll_state: Any = None
    """What the previous attempt asked to be handed back when it asked to be polled."""


class ItemRestored(Event):
    """A foreach item kept the output it had in the run this one was forked from (the
    foreach has the same item at that index): it is not run again."""

    step: str
    node_id: str
    node_type: str
    parent_step: str
    index: int
    output: Any = None


class StepStarted(Event):
    """A worker picked up an attempt."""

    step: str
    attempt: int
    worker: str | None = None


class StepSucceeded(Event):
    """An attempt produced its output (and, for `set`, variables)."""

    step: str
    attempt: int
    output: Any = None
    vars: dict[str, Any] | None = None
    consumed_signal: str | None = None


class StepFailed(Event):
    """A step failed for good: no attempts left, or a non-retryable error."""

    step: str
    attempt: int
    error: StepError


class StepRetryScheduled(Event):
    """An attempt failed and the next one waits for the retry timer."""

    step: str
    attempt: int
    error: StepError
    next_attempt: int
    fire_at: datetime
    timer_id: str


class StepPollScheduled(Event):
    """An attempt handed back a long outside job (an OCR job, say) to be looked at again
    at `fire_at`: the step waits on a durable timer, no worker is busy meanwhile, and the
    next attempt gets `state`. Polls do not count against the retry policy."""

    step: str
    attempt: int
    fire_at: datetime
    timer_id: str
    state: Any = None


class StepSkipped(Event):
    """A step will not run: its branch was not taken, or the run stopped first."""

    step: str
    reason: str


class StepTimedOut(Event):
    """An attempt ran past its timeout; a retry or a failure follows."""

    step: str
    attempt: int


class StepCancelled(Event):
    """An active attempt was abandoned (run cancelled or failed elsewhere)."""

    step: str
    attempt: int
    reason: str


class TimerScheduled(Event):
    """A durable timer was set."""

    timer_id: str
    kind: TimerKind
    step: str
    attempt: int
    fire_at: datetime


class TimerFired(Event):
    """A timer went off and was acted on."""

    timer_id: str


class TimerCancelled(Event):
    """A timer is no longer needed."""

    timer_id: str


class ApprovalRequested(Event):
    """A human decision is needed for a step."""

    step: str
    attempt: int
    config: dict[str, Any] = Field(default_factory=dict)
    deadline: datetime | None = None


class ApprovalVote(RecordModel):
    """One person's decision towards an approval's quorum."""

    by: str
    decision: str
    comment: str | None = None
    decided_at: datetime | None = None


class ApprovalDecided(Event):
    """The approval was decided: by people (the last vote made it final) or by its timeout."""

    step: str
    approved: bool
    decided_by: str | None = None
    comment: str | None = None
    decisions: tuple[ApprovalVote, ...] | None = None
    """Every vote of the quorum, in order (None in events recorded before quorums)."""
    decided_at: datetime | None = None
    attempt: int | None = None
    timed_out: bool | None = None
    """True when `onTimeout` decided, not people."""


class SignalReceived(Event):
    """A signal arrived; it is buffered until a `signal` step consumes it."""

    signal_id: str
    name: str
    data: Any = None


class CompensationStarted(Event):
    """The run is unwinding: these steps are compensated, in this order."""

    outcome: str
    error: RunError | None = None
    order: tuple[str, ...]


class UnwindingOutcomeChanged(Event):
    """A manual fail reached a run unwinding after a cancel: the compensations go on (a
    failure runs the same ones, in the same order), and the run then ends `failed` (or
    `compensated`) with `error` instead of `cancelled`."""

    outcome: str
    error: RunError


class CompensationSucceeded(Event):
    """The compensation of one step finished."""

    for_step: str
    step: str


class CompensationFailed(Event):
    """The compensation of one step failed for good; unwinding goes on."""

    for_step: str
    step: str
    error: StepError


class RunSucceeded(Event):
    """The run finished with its output."""

    output: Any = None


class RunFailed(Event):
    """The run failed (after compensating what it could)."""

    error: RunError


class RunCompensated(Event):
    """The run failed and every compensation succeeded."""

    error: RunError


class RunCancelled(Event):
    """The run was cancelled (after compensating what it could)."""

    reason: str | None = None
    by: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        StepScheduled,
        ItemRestored,
        StepStarted,
        StepSucceeded,
        StepFailed,
        StepRetryScheduled,
        StepPollScheduled,
        StepSkipped,
        StepTimedOut,
        StepCancelled,
        TimerScheduled,
        TimerFired,
        TimerCancelled,
        ApprovalRequested,
        ApprovalDecided,
        SignalReceived,
        CompensationStarted,
        UnwindingOutcomeChanged,
        CompensationSucceeded,
        CompensationFailed,
        RunSucceeded,
        RunFailed,
        RunCompensated,
        RunCancelled,
    )
}


def event_to_record(event: Event) -> tuple[str, dict[str, Any]]:
    """The `(type, data)` pair stored in the event log."""
    return event.type, event.model_dump(mode="json", by_alias=True, exclude_none=True)


def event_from_record(event_type: str, data: dict[str, Any]) -> Event:
    """Rebuild an event from the log; unknown types raise KeyError."""
    return EVENT_TYPES[event_type].model_validate(data)
