"""Waiting steps woken from outside: signals (buffered until a step consumes them) and
human approval decisions."""

from datetime import datetime

from tideflow.core._commands import ApprovalDecision, Signal
from tideflow.core._decider import _attempts as attempts
from tideflow.core._decider import _flow as flow
from tideflow.core._decider._decision import Decision
from tideflow.core._events import (
    ApprovalDecided,
    ApprovalVote,
    SignalReceived,
    StepError,
    StepRole,
    StepSucceeded,
)
from tideflow.core._state import StepState, StepStatus
from tideflow.core.nodes import Execution
from tideflow.core.nodes._approval import APPROVE, REJECT


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
    """An approval step waiting for people: the approval service counted the quorum."""
    step = d.state.steps.get(command.step)
    if step is None or step.execution is not Execution.APPROVAL:
        return
    if step.status is not StepStatus.WAITING:
        return
    if command.attempt is not None and command.attempt != step.attempt:
        return
    settle(
        d, step, approved=command.approved, by=command.decided_by, comment=command.comment,
        decided_at=command.decided_at or d.now, decisions=command.decisions,
    )  # fmt: skip
    flow.advance(d)


def settle(
    d: Decision,
    step: StepState,
    *,
    approved: bool,
    by: str | None,
    comment: str | None,
    decided_at: datetime,
    decisions: tuple[ApprovalVote, ...],
    timed_out: bool = False,
) -> None:
    """Close an approval step: approved succeeds; rejected takes the node's `when: reject`
    edges when it has any (the step succeeds with `decision: reject`), else fails for good.

    The output is `{decision, by, comment, decidedAt, decisions}`.
    """
    decision = APPROVE if approved else REJECT
    d.emit(
        ApprovalDecided(
            at=d.now, step=step.step, approved=approved, decided_by=by, comment=comment,
            decisions=decisions, decided_at=decided_at, attempt=step.attempt,
            timed_out=timed_out or None,
        )
    )  # fmt: skip
    output = {
        "decision": decision,
        "by": by,
        "comment": comment,
        "decidedAt": _iso(decided_at),
        "decisions": [
            {
                "by": v.by,
                "decision": v.decision,
                "comment": v.comment,
                "decidedAt": _iso(v.decided_at) if v.decided_at else None,
            }
            for v in decisions
        ],
    }
    if approved or _has_reject_path(d, step):
        d.emit(StepSucceeded(at=d.now, step=step.step, attempt=step.attempt, output=output))
        attempts.step_succeeded(d, step.step)
        return
    who = "its timeout" if timed_out else (by or "someone")
    error = StepError(
        type="ApprovalRejected",
        message=f"approval {step.step!r} rejected by {who}: {comment or 'no comment'}",
        retryable=False,
    )
    attempts.attempt_failed(d, step.step, error)


def _has_reject_path(d: Decision, step: StepState) -> bool:
    if step.role is not StepRole.FLOW:
        return False
    return any(edge.when == REJECT for edge in d.graph.outgoing[step.node_id])


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
