"""Waiting steps woken from outside: signals (buffered until a step consumes them) and
human approval decisions."""

from tideflow.core._commands import ApprovalDecision, Signal
from tideflow.core._decider import _attempts as attempts
from tideflow.core._decider import _flow as flow
from tideflow.core._decider._decision import Decision
from tideflow.core._events import ApprovalDecided, SignalReceived, StepError, StepSucceeded
from tideflow.core._state import StepStatus
from tideflow.core.nodes import Execution


def signal(d: Decision, command: Signal) -> None:
    """Buffer the signal, and hand it to the first step waiting for that name."""
    d.emit(
        SignalReceived(at=d.now, signal_id=command.command_id, name=command.name, data=command.data)
    )
    for step in list(d.state.steps.values()):
        if (
            step.execution is Execution.SIGNAL
            and step.status is StepStatus.WAITING
            and step.config.get("name") == command.name
        ):
            d.emit(
                StepSucceeded(
                    at=d.now, step=step.step, attempt=step.attempt, output=command.data,
                    consumed_signal=command.command_id,
                )
            )  # fmt: skip
            attempts.step_succeeded(d, step.step)
            break
    flow.advance(d)


def approval(d: Decision, command: ApprovalDecision) -> None:
    """An approval step waiting for a decision: approved succeeds, rejected fails for good."""
    step = d.state.steps.get(command.step)
    if step is None or step.execution is not Execution.APPROVAL:
        return
    if step.status is not StepStatus.WAITING:
        return
    d.emit(
        ApprovalDecided(
            at=d.now, step=step.step, approved=command.approved, decided_by=command.decided_by,
            comment=command.comment,
        )
    )  # fmt: skip
    if command.approved:
        output = {"approved": True, "decidedBy": command.decided_by, "comment": command.comment}
        d.emit(StepSucceeded(at=d.now, step=step.step, attempt=step.attempt, output=output))
        attempts.step_succeeded(d, step.step)
    else:
        by = f" by {command.decided_by}" if command.decided_by else ""
        error = StepError(
            type="ApprovalRejected",
            message=f"approval {step.step!r} rejected{by}: {command.comment or 'no comment'}",
            retryable=False,
        )
        attempts.attempt_failed(d, step.step, error)
    flow.advance(d)
