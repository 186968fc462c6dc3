"""Durable timers: set per step attempt, cancelled with the step, and what firing one does
(start the retry or the next poll, finish the delay, time the attempt out, fail an attempt no worker
started)."""

from datetime import timedelta

from tideflow.core._commands import FireTimer
from tideflow.core._decider import _agent as agent
from tideflow.core._decider import _attempts as attempts
from tideflow.core._decider import _flow as flow
from tideflow.core._decider import _foreach as foreach
from tideflow.core._decider import _steps as steps
from tideflow.core._decider import _waits as waits
from tideflow.core._decider._decision import Decision
from tideflow.core._events import (
    StepError,
    StepSucceeded,
    StepTimedOut,
    TimerCancelled,
    TimerFired,
    TimerKind,
    TimerScheduled,
)
from tideflow.core._ids import timer_id
from tideflow.core._limits import LimitCode
from tideflow.core._state import StepState, StepStatus
from tideflow.core.nodes import Execution
from tideflow.core.nodes._approval import APPROVE, REJECT


def set_timer(d: Decision, key: str, attempt: int, kind: TimerKind, after: timedelta) -> None:
    """Set a durable timer whose id is derived from the step, the kind and the attempt."""
    d.emit(
        TimerScheduled(
            at=d.now, timer_id=timer_id(key, kind, attempt), kind=kind, step=key,
            attempt=attempt, fire_at=d.now + after,
        )
    )  # fmt: skip


def cancel_timers(d: Decision, key: str) -> None:
    """Drop every timer of a step (it finished or was abandoned)."""
    for timer in [t.timer_id for t in d.state.timers.values() if t.step == key]:
        d.emit(TimerCancelled(at=d.now, timer_id=timer))


def fire(d: Decision, command: FireTimer) -> None:
    """A timer of the run is due: act on it if its attempt is still the current one."""
    timer = d.state.timers.get(command.timer_id)
    if timer is None:
        _not_started(d, command.timer_id)
        return
    d.emit(TimerFired(at=d.now, timer_id=timer.timer_id))
    step = d.state.steps[timer.step]
    if step.attempt != timer.attempt or step.status.terminal:
        return
    if agent.timer_fired(d, step, timer.kind):
        pass
    elif timer.kind is TimerKind.RETRY and step.status is StepStatus.BACKOFF:
        steps.schedule(
            d, step.step, d.spec_of(step), step.role, parent_step=step.parent_step,
            index=step.index, item=foreach.item_of(d, step.parent_step, step.index),
        )  # fmt: skip
    elif timer.kind is TimerKind.FOREACH_CONTINUE:
        foreach.pump(d, step.step)
    elif timer.kind is TimerKind.POLL and step.status is StepStatus.BACKOFF:
        steps.schedule(
            d, step.step, d.spec_of(step), step.role, parent_step=step.parent_step,
            index=step.index, item=foreach.item_of(d, step.parent_step, step.index),
            poll_state=step.poll_state,
        )  # fmt: skip
    elif timer.kind is TimerKind.DELAY:
        d.emit(StepSucceeded(at=d.now, step=step.step, attempt=step.attempt))
        attempts.step_succeeded(d, step.step)
    elif timer.kind is TimerKind.STEP_TIMEOUT and _decides_on_timeout(step):
        # `onTimeout: approve|reject`: the timeout decides on everyone's behalf
        waits.settle(
            d, step, approved=step.config.get("onTimeout") == APPROVE, by=None,
            comment=f"decided by its timeout ({step.config.get('onTimeout')})",
            decided_at=d.now, decisions=(), timed_out=True,
        )  # fmt: skip
    elif timer.kind is TimerKind.STEP_TIMEOUT:
        d.emit(StepTimedOut(at=d.now, step=step.step, attempt=step.attempt))
        retryable = step.execution is Execution.DISPATCH
        message = f"step {step.step!r} attempt {step.attempt} timed out"
        error = StepError(type="Timeout", message=message, retryable=retryable)
        attempts.attempt_failed(d, step.step, error)
    flow.advance(d)


def _decides_on_timeout(step: StepState) -> bool:
    """An approval whose `onTimeout` is approve or reject (fail times out like any step)."""
    return step.execution is Execution.APPROVAL and step.config.get("onTimeout") in {
        APPROVE,
        REJECT,
    }


def _not_started(d: Decision, fired: str) -> None:
    """A schedule-to-start timer fired: fail the attempt if no worker has started it.

    These timers are not in the run state (TimerScheduled/TimerCancelled events would add
    two events to every dispatched step): the effects of `StepScheduled` set them and the
    step's later events cancel them, so one that fires for a step still `scheduled` at that
    attempt means no worker took the task in time. Any other unknown timer decides nothing.
    """
    for step in d.state.steps.values():
        if (
            step.status is StepStatus.SCHEDULED
            and step.execution is Execution.DISPATCH
            and timer_id(step.step, TimerKind.SCHEDULE_TO_START, step.attempt) == fired
        ):
            message = (
                f"no worker of queue {step.queue!r} started step {step.step!r} attempt "
                f"{step.attempt} in time (scheduleToStartTimeout)"
            )
            code = LimitCode.SCHEDULE_TO_START_TIMEOUT.value
            error = StepError(type=code, message=message, retryable=False)
            attempts.attempt_failed(d, step.step, error)
            flow.advance(d)
            return
