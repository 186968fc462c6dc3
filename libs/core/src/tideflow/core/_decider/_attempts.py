"""Attempts: results from workers (or child runs), retries with backoff, and what a step
that succeeded or failed for good means for its foreach, its saga or the run."""

import hashlib
import math
from datetime import timedelta

from tideflow.core._commands import StepAccepted, StepResult
from tideflow.core._decider import _agent as agent
from tideflow.core._decider import _flow as flow
from tideflow.core._decider import _foreach as foreach
from tideflow.core._decider import _saga as saga
from tideflow.core._decider import _timers as timers
from tideflow.core._decider._decision import Decision
from tideflow.core._definition import RetryPolicy
from tideflow.core._events import (
    CompensationFailed,
    CompensationSucceeded,
    RunError,
    StepCancelled,
    StepError,
    StepFailed,
    StepPollScheduled,
    StepRetryScheduled,
    StepRole,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    TimerKind,
)
from tideflow.core._ids import compensated_step, timer_id
from tideflow.core._state import StepStatus
from tideflow.core.nodes import Execution

DEFAULT_RETRY = RetryPolicy()
MIN_POLL = timedelta(seconds=1)
"""The shortest wait between polls a worker can ask for (no busy loop through the log)."""
_RESULT_STATUSES = frozenset({StepStatus.SCHEDULED, StepStatus.RUNNING, StepStatus.WAITING})
_ACTIVE = frozenset(
    {StepStatus.SCHEDULED, StepStatus.RUNNING, StepStatus.WAITING, StepStatus.BACKOFF}
)


def backoff(policy: RetryPolicy, run_id: str, step: str, attempt: int) -> timedelta:
    """Delay before `attempt + 1`: exponential, capped, with jitter fixed by the run id.

    The jitter (up to -20%) spreads retries of many runs; deriving it from a hash keeps
    `decide` deterministic, so a replay schedules exactly the same timers.
    """
    try:
        growth = policy.backoff_coefficient ** (attempt - 1)
    except OverflowError:  # a late attempt of a long retry policy
        growth = math.inf
    if policy.initial_interval.total_seconds() * growth > 2 * policy.max_interval.total_seconds():
        capped = policy.max_interval  # far past the cap (and the product may not fit)
    else:
        capped = min(policy.initial_interval * growth, policy.max_interval)
    digest = hashlib.sha256(f"{run_id}/{step}/{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return capped * (1 - 0.2 * fraction)


def accepted(d: Decision, command: StepAccepted) -> None:
    """A worker picked up the current attempt: the step is running."""
    step = d.state.steps.get(command.step)
    if step and step.attempt == command.attempt and step.status is StepStatus.SCHEDULED:
        d.emit(
            StepStarted(at=d.now, step=command.step, attempt=command.attempt, worker=command.worker)
        )


def result(d: Decision, command: StepResult) -> None:
    """A worker's (or child run's) result for the current attempt of a step."""
    step = d.state.steps.get(command.step)
    if step is None or step.attempt != command.attempt or step.status not in _RESULT_STATUSES:
        return
    if step.execution not in {Execution.DISPATCH, Execution.CHILD}:
        return
    if command.ok and command.poll is not None and step.execution is Execution.DISPATCH:
        timers.cancel_timers(d, command.step)
        wait = max(command.poll.after, MIN_POLL)
        d.emit(
            StepPollScheduled(
                at=d.now, step=command.step, attempt=command.attempt, fire_at=d.now + wait,
                timer_id=timer_id(command.step, TimerKind.POLL, command.attempt),
                state=command.poll.state,
            )
        )  # fmt: skip
        timers.set_timer(d, command.step, command.attempt, TimerKind.POLL, wait)
    elif command.ok:
        d.emit(
            StepSucceeded(
                at=d.now, step=command.step, attempt=command.attempt, output=command.output,
                command_id=d.command_id,
            )
        )  # fmt: skip
        step_succeeded(d, command.step)
    else:
        error = command.error or StepError(type="Error", message="step failed")
        if step.execution is Execution.CHILD:
            error = error.model_copy(update={"retryable": False})
        attempt_failed(d, command.step, error)
    flow.advance(d)


def step_succeeded(d: Decision, key: str) -> None:
    """React to a step that just succeeded."""
    step = d.state.steps[key]
    timers.cancel_timers(d, key)
    if agent.is_sub_step(d, step):
        agent.advance(d, str(step.parent_step))
    elif step.role is StepRole.ITEM and step.parent_step is not None:
        foreach.pump(d, step.parent_step)
    elif step.role is StepRole.COMPENSATION:
        d.emit(CompensationSucceeded(at=d.now, for_step=compensated_step(key), step=key))
        saga.next_compensation(d)


def attempt_failed(d: Decision, key: str, error: StepError) -> None:
    """Retry per the node's policy, or fail the step for good."""
    step = d.state.steps[key]
    timers.cancel_timers(d, key)
    policy = d.spec_of(step).retry or DEFAULT_RETRY
    if (
        step.execution is Execution.DISPATCH
        and error.retryable
        and error.type not in policy.non_retryable
        and step.attempt - step.polls < policy.max_attempts
    ):
        delay = backoff(policy, d.state.run_id, key, step.attempt - step.polls)
        d.emit(
            StepRetryScheduled(
                at=d.now, step=key, attempt=step.attempt, error=error,
                next_attempt=step.attempt + 1, fire_at=d.now + delay,
                timer_id=timer_id(key, TimerKind.RETRY, step.attempt),
            )
        )  # fmt: skip
        timers.set_timer(d, key, step.attempt, TimerKind.RETRY, delay)
        return
    d.emit(StepFailed(at=d.now, step=key, attempt=step.attempt, error=error))
    step_failed(d, key, error)


def step_failed(d: Decision, key: str, error: StepError) -> None:
    """React to a step that failed for good."""
    step = d.state.steps[key]
    timers.cancel_timers(d, key)
    if agent.is_sub_step(d, step):
        agent.sub_step_failed(d, step, error)
    elif step.role is StepRole.ITEM and step.parent_step is not None:
        parent = d.state.steps[step.parent_step]
        if parent.status.terminal:
            return
        stop_steps(d, f"item {key} failed", only_parent=step.parent_step)
        wrapped = StepError(
            type=error.type, message=f"item {step.index}: {error.message}", retryable=False
        )
        d.emit(StepFailed(at=d.now, step=parent.step, attempt=parent.attempt, error=wrapped))
        step_failed(d, parent.step, wrapped)
    elif step.role is StepRole.COMPENSATION:
        d.emit(CompensationFailed(at=d.now, for_step=compensated_step(key), step=key, error=error))
        saga.next_compensation(d)
    elif d.state.unwinding is None:
        saga.fail_run(d, RunError(step=key, type=error.type, message=error.message))


def stop_steps(d: Decision, reason: str, *, only_parent: str | None = None) -> None:
    """Cancel active steps and skip pending ones (all flow/item steps, or one foreach's)."""
    for key, step in list(d.state.steps.items()):
        if step.role is StepRole.COMPENSATION or step.status.terminal:
            continue
        if only_parent is not None and step.parent_step != only_parent:
            continue
        if step.status in _ACTIVE:
            timers.cancel_timers(d, key)
            d.emit(StepCancelled(at=d.now, step=key, attempt=step.attempt, reason=reason))
        elif step.status is StepStatus.PENDING:
            d.emit(StepSkipped(at=d.now, step=key, reason=reason))
