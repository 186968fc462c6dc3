"""The saga: a run that fails or is cancelled compensates its succeeded steps in reverse
completion order, then ends (`compensated` when every compensation succeeded)."""

from tideflow.core._commands import Cancel
from tideflow.core._decider import _attempts as attempts
from tideflow.core._decider import _steps as steps
from tideflow.core._decider._decision import Decision
from tideflow.core._events import (
    CompensationStarted,
    RunCancelled,
    RunCompensated,
    RunError,
    RunFailed,
    StepRole,
    UnwindingOutcomeChanged,
)
from tideflow.core._ids import compensation_key
from tideflow.core._state import RunStatus


def fail_run(d: Decision, error: RunError) -> None:
    """A step failed for good: stop the flow and unwind."""
    attempts.stop_steps(d, f"run failed: {error.message}")
    unwind(d, RunStatus.FAILED, error)


MANUALLY_FAILED = "ManuallyFailed"


def cancel(d: Decision, command: Cancel) -> None:
    """Cancel the run: stop its steps, compensate what needs it, end `cancelled` (or,
    for a manual fail, `failed`/`compensated` like any failed run).

    A run already unwinding is not stopped again: a manual fail during a cancel's
    compensations makes it end failed (they go on: a failure runs the same ones, in the
    same order, and abandoning them would leave effects undone); a cancel during any
    unwinding, or a fail during a failure's, changes nothing (it ends failed anyway)."""
    unwinding = d.state.unwinding
    if unwinding is not None:
        if command.fail and unwinding.outcome is RunStatus.CANCELLED:
            error = manual_failure(command)
            d.emit(UnwindingOutcomeChanged(at=d.now, outcome=RunStatus.FAILED, error=error))
        return
    if command.fail:
        fail_run(d, manual_failure(command))
        return
    reason = command.reason or "cancelled"
    attempts.stop_steps(d, f"run cancelled: {reason}")
    if compensation_order(d):
        unwind(d, RunStatus.CANCELLED, RunError(type="Cancelled", message=reason))
    else:
        d.emit(RunCancelled(at=d.now, reason=command.reason, by=command.by))


def manual_failure(command: Cancel) -> RunError:
    """The run error of a manual fail (`POST /runs/{id}/fail`)."""
    by = f" by {command.by}" if command.by else ""
    return RunError(
        type=MANUALLY_FAILED, message=f"failed manually{by}: {command.reason or 'no reason given'}"
    )


def compensation_order(d: Decision) -> tuple[str, ...]:
    """Succeeded flow steps that have a compensation, latest first."""
    return tuple(
        key
        for key in reversed(d.state.completed)
        if d.graph.nodes[d.state.steps[key].node_id].compensate
    )


def unwind(d: Decision, outcome: RunStatus, error: RunError | None) -> None:
    """Compensate succeeded steps in reverse completion order, then end the run."""
    order = compensation_order(d)
    if order:
        d.emit(CompensationStarted(at=d.now, outcome=outcome, error=error, order=order))
        next_compensation(d)
    else:
        end_run(d, outcome, error, compensated=False)


def next_compensation(d: Decision) -> None:
    """Start the next compensation, or end the run when none is left."""
    unwinding = d.state.unwinding
    if unwinding is None:
        return
    for for_step in unwinding.order:
        key = compensation_key(for_step)
        if key in d.state.steps:
            if d.state.steps[key].status.terminal:
                continue
            return
        node = d.graph.nodes[d.state.steps[for_step].node_id]
        if node.compensate is None:
            continue
        steps.schedule(d, key, d.graph.nodes[node.compensate], StepRole.COMPENSATION)
        return
    end_run(d, unwinding.outcome, unwinding.error, compensated=not unwinding.failed)


def end_run(d: Decision, outcome: RunStatus, error: RunError | None, *, compensated: bool) -> None:
    """Emit the terminal run event for an unwound run."""
    if d.state.status.terminal:
        return
    if outcome is RunStatus.CANCELLED:
        d.emit(RunCancelled(at=d.now, reason=error.message if error else None))
        return
    final = error or RunError(type="Failed", message="run failed")
    if compensated:
        d.emit(RunCompensated(at=d.now, error=final))
    else:
        d.emit(RunFailed(at=d.now, error=final))
