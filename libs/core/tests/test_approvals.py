"""Approval steps in the pure core: the decision's output, the reject path, quorums'
votes, and what a timeout decides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tideflow.core import (
    APPROVAL_DECISION_GRACE,
    ApprovalDecision,
    ApprovalVote,
    RunStatus,
    StepStatus,
)
from tideflow.core.testing import EPOCH, LocalRun

pytestmark = pytest.mark.unit


def order(*, reject_path: bool, **config: Any) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "ask", "type": "approval", "config": {"role": "approver", **config}},
        {"id": "ship", "type": "log", "config": {"message": "ship"}},
    ]
    edges: list[dict[str, Any]] = [{"from": "ask", "to": "ship"}]
    if reject_path:
        nodes.append({"id": "refund", "type": "log", "config": {"message": "refund"}})
        edges.append({"from": "ask", "to": "refund", "when": "reject"})
    return {"metadata": {"name": "order"}, "spec": {"nodes": nodes, "edges": edges}}


def statuses(run: LocalRun) -> dict[str, StepStatus]:
    return {key: step.status for key, step in run.state.steps.items()}


def quorum_decision(run: LocalRun, *, approved: bool, attempt: int | None = 1) -> ApprovalDecision:
    votes = (
        ApprovalVote(by="alice", decision="approve", comment="ok", decided_at=EPOCH),
        ApprovalVote(by="bob", decision="approve" if approved else "reject",
                     comment="fine" if approved else "no", decided_at=EPOCH + timedelta(minutes=1)),
    )  # fmt: skip
    return ApprovalDecision(
        command_id="approval:a-1", run_id=run.run_id, step="ask", approved=approved,
        decided_by="bob", comment=votes[-1].comment, decided_at=votes[-1].decided_at,
        decisions=votes, attempt=attempt,
    )  # fmt: skip


def test_approved_output_carries_every_vote_and_takes_the_default_path() -> None:
    run = LocalRun(order(reject_path=True))
    run.start()
    assert run.state.status is RunStatus.WAITING
    run.send(quorum_decision(run, approved=True))
    assert run.state.status is RunStatus.SUCCEEDED
    assert run.state.steps["ask"].output == {
        "decision": "approve", "by": "bob", "comment": "fine",
        "decidedAt": "2025-01-01T00:01:00Z",
        "decisions": [
            {"by": "alice", "decision": "approve", "comment": "ok",
             "decidedAt": "2025-01-01T00:00:00Z"},
            {"by": "bob", "decision": "approve", "comment": "fine",
             "decidedAt": "2025-01-01T00:01:00Z"},
        ],
    }  # fmt: skip
    assert statuses(run)["ship"] is StepStatus.SUCCEEDED
    assert statuses(run)["refund"] is StepStatus.SKIPPED
    decided = [e for e in run.events if e.type == "ApprovalDecided"]
    assert len(decided) == 1
    assert decided[0].attempt == 1
    assert [v.by for v in decided[0].decisions or ()] == ["alice", "bob"]


def test_a_rejection_takes_the_reject_path() -> None:
    run = LocalRun(order(reject_path=True))
    run.start()
    run.send(quorum_decision(run, approved=False))
    assert run.state.status is RunStatus.SUCCEEDED
    assert run.state.steps["ask"].output["decision"] == "reject"
    assert statuses(run)["refund"] is StepStatus.SUCCEEDED
    assert statuses(run)["ship"] is StepStatus.SKIPPED


def test_a_rejection_without_a_reject_path_fails_the_step() -> None:
    run = LocalRun(order(reject_path=False))
    run.start()
    run.decide_approval("ask", approved=False, comment="too much")
    assert run.state.status is RunStatus.FAILED
    step = run.state.steps["ask"]
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.type == "ApprovalRejected"
    assert "too much" in step.error.message


def test_decisions_for_another_attempt_or_twice_decide_nothing() -> None:
    run = LocalRun(order(reject_path=True))
    run.start()
    assert run.send(quorum_decision(run, approved=True, attempt=2)) == []
    assert run.state.status is RunStatus.WAITING
    assert run.send(quorum_decision(run, approved=True)) != []
    assert run.send(quorum_decision(run, approved=False)) == []  # same command id
    other = quorum_decision(run, approved=False).model_copy(update={"command_id": "x"})
    assert run.send(other) == []  # the step no longer waits
    assert run.state.steps["ask"].output["decision"] == "approve"


@pytest.mark.parametrize(
    ("on_timeout", "reject_path", "run_status", "ask", "decision"),
    [
        ("approve", False, RunStatus.SUCCEEDED, StepStatus.SUCCEEDED, "approve"),
        ("reject", True, RunStatus.SUCCEEDED, StepStatus.SUCCEEDED, "reject"),
        ("reject", False, RunStatus.FAILED, StepStatus.FAILED, None),
        ("fail", True, RunStatus.FAILED, StepStatus.FAILED, None),
    ],
)
def test_on_timeout(
    on_timeout: str, reject_path: bool, run_status: RunStatus, ask: StepStatus,
    decision: str | None,
) -> None:  # fmt: skip
    run = LocalRun(order(reject_path=reject_path, timeout="1h", onTimeout=on_timeout))
    run.start()
    run.advance(timedelta(minutes=59))
    assert run.state.status is RunStatus.WAITING
    run.advance(timedelta(minutes=1) + APPROVAL_DECISION_GRACE)
    assert run.state.status is run_status
    step = run.state.steps["ask"]
    assert step.status is ask
    if decision is not None:
        assert step.output["decision"] == decision
        assert step.output["by"] is None
        assert step.output["decisions"] == []
        decided = next(e for e in run.events if e.type == "ApprovalDecided")
        assert decided.timed_out is True
    elif on_timeout == "fail":
        assert step.error is not None
        assert step.error.type == "Timeout"
    # a decision after the timeout decides nothing
    assert run.decide_approval("ask", approved=True) == []


def test_on_timeout_must_be_known() -> None:
    from tideflow.core import validate_definition

    problems = validate_definition(order(reject_path=False, onTimeout="maybe"))
    assert [p.code for p in problems] == ["INVALID_CONFIG"]
    problems = validate_definition(order(reject_path=False, assignees=["a"], quorum=2, role=None))
    assert [p.code for p in problems] == ["INVALID_CONFIG"]


def test_a_decision_accepted_before_the_deadline_wins_over_the_timeout() -> None:
    """The approval service accepts a vote until `expiresAt` (the request's deadline) and
    answers 200 "decided"; the decision then travels to the run as a command. One accepted a
    moment before the deadline reaches the run a moment after it, and used to find the step
    already settled by its timeout (while the API had confirmed the decision)."""
    run = LocalRun(order(reject_path=True, timeout="1h", onTimeout="reject"))
    run.start()
    requested = next(e for e in run.events if e.type == "ApprovalRequested")
    assert requested.deadline == EPOCH + timedelta(hours=1)  # what the API shows and enforces
    run.advance(timedelta(hours=1, seconds=1))  # the vote's command is still in flight
    assert run.state.status is RunStatus.WAITING
    accepted = quorum_decision(run, approved=True).model_copy(
        update={"decided_at": EPOCH + timedelta(minutes=59, seconds=59)}
    )
    assert run.send(accepted) != []
    assert run.state.status is RunStatus.SUCCEEDED
    assert run.state.steps["ask"].output["decision"] == "approve"
    assert statuses(run)["ship"] is StepStatus.SUCCEEDED
    assert not any(e.type == "TimerFired" for e in run.events)


def test_without_a_decision_the_timeout_applies_after_the_grace() -> None:
    run = LocalRun(order(reject_path=True, timeout="1h", onTimeout="approve"))
    run.start()
    run.advance(timedelta(hours=1) + APPROVAL_DECISION_GRACE - timedelta(milliseconds=1))
    assert run.state.status is RunStatus.WAITING
    run.advance(timedelta(milliseconds=1))
    assert run.state.status is RunStatus.SUCCEEDED
    decided = next(e for e in run.events if e.type == "ApprovalDecided")
    assert decided.timed_out is True
