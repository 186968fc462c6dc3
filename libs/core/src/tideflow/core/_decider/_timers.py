"""Durable timers: set per step attempt, cancelled with the step, and what firing one does
(start the retry, finish the delay, time the attempt out)."""

from datetime import timedelta

from tideflow.core._commands import FireTimer
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
        return
    d.emit(TimerFired(at=d.now, timer_id=timer.timer_id))
    step = d.state.steps[timer.step]
    if step.attempt != timer.attempt or step.status.terminal:
        return
    if timer.kind is TimerKind.RETRY and step.status is StepStatus.BACKOFF:
        steps.schedule(
            d, step.step, d.spec_of(step), step.role, parent_step=step.parent_step,
            index=step.index, item=foreach.item_of(d, step.parent_step, step.index),
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
