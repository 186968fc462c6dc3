"""`effects(state, events)`: the IO an adapter must do after appending events.

Publishing the events themselves is not an effect: the scheduler's publisher follows the
log (by `position`) and sends every stored event on the public stream.

Pure: derived only from the new events and the state after them. The adapter writes the
effects to its outbox in the same transaction as the events, so each effect happens at
least once, and its deterministic ids (step + attempt, timer id, child run id) let the
receivers drop duplicates.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tideflow.core._events import (
    ApprovalRequested,
    Event,
    RecordModel,
    RunCancelled,
    RunCompensated,
    RunFailed,
    RunSucceeded,
    StepCancelled,
    StepError,
    StepFailed,
    StepPollScheduled,
    StepRetryScheduled,
    StepScheduled,
    StepStarted,
    StepSucceeded,
    TimerCancelled,
    TimerKind,
    TimerScheduled,
)
from tideflow.core._ids import timer_id
from tideflow.core._state import RunState
from tideflow.core.nodes import Execution


class Effect(RecordModel):
    """Base of effects; every effect belongs to one run."""

    run_id: str


class DispatchTask(Effect):
    """Send one attempt of a step to the workers of `queue`."""

    step: str
    node_id: str
    attempt: int
    queue: str
    node_type: str
    config: Any = None
    secret_paths: tuple[tuple[str | int, ...], ...] = ()
    timeout: timedelta | None = None
    deadline: datetime | None = None
    idempotency_key: str | None = None
    start_by: datetime | None = None
    poll_state: Any = None


class CancelTask(Effect):
    """Best effort: tell the workers of `queue` an attempt is no longer wanted."""

    step: str
    attempt: int
    queue: str
    """The queue the attempt was dispatched to (its cancel topic is that queue's)."""


class ScheduleTimer(Effect):
    """Persist a durable timer; when due, send FireTimer(timer_id) to the run."""

    timer_id: str
    fire_at: datetime
    kind: TimerKind


class CancelTimer(Effect):
    """Drop a durable timer (firing it anyway would be harmless, just wasteful)."""

    timer_id: str


class RequestApproval(Effect):
    """Put an approval into the inbox of whoever may decide."""

    step: str
    attempt: int
    config: dict[str, Any]
    deadline: datetime | None = None


class StartChildRun(Effect):
    """Start a child run; its end comes back as a StepResult for the parent step."""

    child_run_id: str
    parent_step: str
    attempt: int
    workflow: str
    version: int | None = None
    input: Any = None
    depth: int = 1
    """The child's nesting depth (its parent's plus one)."""


class CancelChildRun(Effect):
    """Cancel a child run whose parent step was abandoned."""

    child_run_id: str


class NotifyParent(Effect):
    """A child run ended: deliver StepResult(step, attempt, ...) to `parent_run_id`."""

    parent_run_id: str
    step: str
    attempt: int
    ok: bool
    output: Any = None
    error: StepError | None = None


def _step_effect(state: RunState, event: StepScheduled) -> Effect | None:
    if event.execution is Execution.DISPATCH:
        return DispatchTask(
            run_id=state.run_id, step=event.step, node_id=event.node_id, attempt=event.attempt,
            queue=event.queue, node_type=event.node_type, config=event.config,
            secret_paths=event.secret_paths, timeout=event.timeout, deadline=event.deadline,
            idempotency_key=event.idempotency_key, start_by=event.start_by,
            poll_state=event.poll_state,
        )  # fmt: skip
    if event.execution is Execution.CHILD and event.child_run_id is not None:
        config = event.config or {}
        return StartChildRun(
            run_id=state.run_id, child_run_id=event.child_run_id, parent_step=event.step,
            attempt=event.attempt, workflow=config["workflow"], version=config.get("version"),
            input=config.get("input"), depth=run_depth(state) + 1,
        )  # fmt: skip
    return None


def run_depth(state: RunState) -> int:
    """How deeply a run is nested in subworkflows (0: started by a client)."""
    return state.parent.depth if state.parent is not None else 0


def _cancel_effect(state: RunState, event: StepCancelled) -> Effect | None:
    step = state.steps.get(event.step)
    if step is None:
        return None
    if step.execution is Execution.DISPATCH:
        return CancelTask(
            run_id=state.run_id, step=event.step, attempt=event.attempt, queue=step.queue
        )
    if step.execution is Execution.CHILD and step.child_run_id is not None:
        return CancelChildRun(run_id=state.run_id, child_run_id=step.child_run_id)
    return None


def _parent_effect(state: RunState, event: Event) -> Effect | None:
    parent = state.parent
    if parent is None:
        return None
    common = {
        "run_id": state.run_id,
        "parent_run_id": parent.run_id,
        "step": parent.step,
        "attempt": parent.attempt,
    }
    if isinstance(event, RunSucceeded):
        return NotifyParent(**common, ok=True, output=event.output)
    if isinstance(event, RunFailed | RunCompensated):
        error = StepError(type=event.error.type, message=event.error.message, retryable=False)
        return NotifyParent(**common, ok=False, error=error)
    if isinstance(event, RunCancelled):
        error = StepError(type="ChildCancelled", message="child run cancelled", retryable=False)
        return NotifyParent(**common, ok=False, error=error)
    return None


_LEAVES_SCHEDULED = (
    StepStarted, StepSucceeded, StepFailed, StepRetryScheduled, StepPollScheduled, StepCancelled,
)  # fmt: skip


def _start_timer(state: RunState, event: Event) -> Effect | None:
    """The schedule-to-start timer of a dispatched attempt: set with its `StepScheduled`,
    dropped as soon as the attempt leaves `scheduled` (see `_decide._not_started`)."""
    if isinstance(event, StepScheduled):
        if event.execution is not Execution.DISPATCH or event.start_by is None:
            return None
        return ScheduleTimer(
            run_id=state.run_id, fire_at=event.start_by, kind=TimerKind.SCHEDULE_TO_START,
            timer_id=timer_id(event.step, TimerKind.SCHEDULE_TO_START, event.attempt),
        )  # fmt: skip
    if isinstance(event, _LEAVES_SCHEDULED):
        step = state.steps.get(event.step)
        if step is None or step.execution is not Execution.DISPATCH:
            return None
        wanted = timer_id(event.step, TimerKind.SCHEDULE_TO_START, event.attempt)
        return CancelTimer(run_id=state.run_id, timer_id=wanted)
    return None


def effects(state: RunState, events: Sequence[Event]) -> list[Effect]:
    """The effects of `events`, given `state` = the state after them, in event order."""
    out: list[Effect] = []
    for event in events:
        start_timer = _start_timer(state, event)
        if start_timer is not None:
            out.append(start_timer)
        effect: Effect | None = None
        if isinstance(event, StepScheduled):
            effect = _step_effect(state, event)
        elif isinstance(event, TimerScheduled):
            effect = ScheduleTimer(
                run_id=state.run_id, timer_id=event.timer_id, fire_at=event.fire_at, kind=event.kind
            )
        elif isinstance(event, TimerCancelled):
            effect = CancelTimer(run_id=state.run_id, timer_id=event.timer_id)
        elif isinstance(event, StepCancelled):
            effect = _cancel_effect(state, event)
        elif isinstance(event, ApprovalRequested):
            effect = RequestApproval(
                run_id=state.run_id, step=event.step, attempt=event.attempt,
                config=event.config, deadline=event.deadline,
            )  # fmt: skip
        else:
            effect = _parent_effect(state, event)
        if effect is not None:
            out.append(effect)
    return out
