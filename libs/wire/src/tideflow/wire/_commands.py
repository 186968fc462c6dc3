"""Commands to `tideflow.runs`: core model <-> protobuf envelope.

A StartRun on the wire names its workflow version instead of carrying the definition
(versions are immutable and the scheduler caches them), so decoding yields a
`StartRequest` that the scheduler completes with the definition it loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from tideflow.bus import new_envelope, payload_of, pb
from tideflow.core import (
    ApprovalDecision,
    ApprovalVote,
    Cancel,
    Command,
    FireTimer,
    Limits,
    ParentLink,
    ReplayOrigin,
    Restored,
    RunCommand,
    Signal,
    StartRun,
    StepAccepted,
    StepError,
    StepPoll,
    StepResult,
    WorkflowDefinition,
)
from tideflow.wire._json import dump, load, load_object, timestamp


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A StartRun off the wire, waiting for its workflow definition."""

    command_id: str
    run_id: str
    tenant_id: str
    workflow: str
    version: int
    input: Any
    parent: ParentLink | None
    replay_of: ReplayOrigin | None
    restored: Restored | None

    def with_definition(
        self, definition: WorkflowDefinition, limits: Limits | None = None
    ) -> StartRun:
        """The core command, completed with the pinned definition and the engine limits."""
        return StartRun(
            limits=limits,
            command_id=self.command_id,
            run_id=self.run_id,
            workflow=self.workflow,
            version=self.version,
            definition=definition,
            input=self.input,
            parent=self.parent,
            replay_of=self.replay_of,
            restored=self.restored,
        )


WireCommand = StartRequest | RunCommand


def command_envelope(command: Command, *, tenant_id: str) -> pb.Envelope:
    """The envelope for a core command, keyed by its run on `tideflow.runs`."""
    return new_envelope(
        _payload(command), tenant_id=tenant_id, run_id=command.run_id,
        message_id=command.command_id,
    )  # fmt: skip


def _payload(command: Command) -> Any:  # noqa: PLR0911 - one branch per command type
    common: dict[str, Any] = {"command_id": command.command_id, "run_id": command.run_id}
    match command:
        case StartRun():
            return _start_message(command, common)
        case StepResult():
            return _result_message(command, common)
        case FireTimer():
            return pb.TimerFired(**common, timer_id=command.timer_id)
        case Signal():
            return pb.Signal(**common, name=command.name, payload_json=dump(command.data))
        case ApprovalDecision():
            decision = (
                pb.Decision.DECISION_APPROVED
                if command.approved
                else (pb.Decision.DECISION_REJECTED)
            )
            message = pb.ApprovalDecision(
                **common, node_id=command.step, decision=decision,
                decided_by=command.decided_by or "", comment=command.comment or "",
                attempt=command.attempt or 0,
                votes=[_vote_message(v) for v in command.decisions],
            )  # fmt: skip
            if command.decided_at is not None:
                message.decided_at.CopyFrom(timestamp(command.decided_at))
            return message
        case Cancel():
            return pb.Cancel(
                **common, reason=command.reason or "", requested_by=command.by or "",
                fail=command.fail,
            )  # fmt: skip
        case StepAccepted():
            return pb.StepResult(
                **common, node_id=command.step, attempt=command.attempt,
                accepted=pb.StepAcceptance(worker=command.worker or ""),
            )  # fmt: skip
    raise TypeError(f"{type(command).__name__} has no wire form")


def decode_command(envelope: pb.Envelope) -> WireCommand:  # noqa: PLR0911 - one per type
    """The command an envelope on `tideflow.runs` carries; TypeError for other payloads."""
    payload = payload_of(envelope)
    match payload:
        case pb.StartRun():
            return _start_request(envelope, payload)
        case pb.StepResult():
            legacy = load_object(payload.extra_json) if payload.extra_json else {}
            common: dict[str, Any] = {
                "command_id": payload.command_id, "run_id": payload.run_id,
                "step": payload.node_id, "attempt": payload.attempt,
            }  # fmt: skip
            if payload.WhichOneof("outcome") == "accepted":
                return StepAccepted(**common, worker=payload.accepted.worker or None)
            if legacy.get("accepted"):  # written by an earlier version
                return StepAccepted(**common, worker=legacy.get("worker"))
            if payload.WhichOneof("outcome") == "success":
                return StepResult(
                    **common, ok=True, output=load(payload.success.output_json),
                    poll=_poll_of(payload, legacy),
                )  # fmt: skip
            failure = payload.failure
            error = StepError(
                type=failure.error_type or "Error", message=failure.message,
                retryable=failure.retryable,
            )  # fmt: skip
            return StepResult(**common, ok=False, error=error)
        case pb.TimerFired():
            return FireTimer(
                command_id=payload.command_id, run_id=payload.run_id, timer_id=payload.timer_id
            )
        case pb.Signal():
            return Signal(
                command_id=payload.command_id, run_id=payload.run_id, name=payload.name,
                data=load(payload.payload_json),
            )  # fmt: skip
        case pb.ApprovalDecision():
            return ApprovalDecision(
                command_id=payload.command_id, run_id=payload.run_id, step=payload.node_id,
                approved=payload.decision == pb.Decision.DECISION_APPROVED,
                decided_by=payload.decided_by or None, comment=payload.comment or None,
                decided_at=(
                    payload.decided_at.ToDatetime(tzinfo=UTC)
                    if payload.HasField("decided_at") else None
                ),
                attempt=payload.attempt or None,
                decisions=tuple(_vote_of(v) for v in payload.votes),
            )  # fmt: skip
        case pb.Cancel():
            return Cancel(
                command_id=payload.command_id, run_id=payload.run_id,
                reason=payload.reason or None, by=payload.requested_by or None,
                fail=payload.fail,
            )  # fmt: skip
    raise TypeError(f"{envelope.type} is not a run command")


def _result_message(command: StepResult, common: dict[str, Any]) -> pb.StepResult:
    result = pb.StepResult(**common, node_id=command.step, attempt=command.attempt)
    if command.ok:
        result.success.output_json = dump(command.output)
        if command.poll is not None:  # not done: call the node again after `after`
            result.poll.after.FromTimedelta(command.poll.after)
            result.poll.state_json = dump(command.poll.state)
    else:
        error = command.error or StepError(type="Error", message="failed")
        result.failure.error_type = error.type
        result.failure.message = error.message
        result.failure.retryable = error.retryable
    return result


def _poll_of(result: pb.StepResult, legacy: dict[str, Any]) -> StepPoll | None:
    """A success that asks to be polled again (`StepPending`), typed or as an earlier
    version wrote it."""
    if result.HasField("poll"):
        return StepPoll(after=result.poll.after.ToTimedelta(), state=load(result.poll.state_json))
    poll = legacy.get("poll")
    return StepPoll.model_validate(poll) if isinstance(poll, dict) else None


def _start_message(command: StartRun, common: dict[str, Any]) -> pb.StartRun:
    parent = command.parent
    start = pb.StartRun(
        **common, workflow_id=command.workflow, workflow_version=command.version,
        input_json=dump(command.input),
        parent_run_id=parent.run_id if parent else "",
        parent_node_id=parent.step if parent else "",
        parent_attempt=parent.attempt if parent else 0,
        parent_depth=parent.depth if parent else 0,
    )  # fmt: skip
    if command.replay_of is not None:
        start.replay_of.run_id = command.replay_of.run_id
        start.replay_of.seq = command.replay_of.seq
    if command.restored is not None:
        restored = command.restored
        start.restored.outputs_json = dump(restored.outputs)
        start.restored.order.extend(restored.order)
        start.restored.vars_json = dump(restored.vars)
        if restored.items:
            start.restored.items_json = dump(
                {node: {str(i): kept.model_dump(mode="json") for i, kept in items.items()}
                 for node, items in restored.items.items()}
            )  # fmt: skip
    return start


def _start_request(envelope: pb.Envelope, payload: pb.StartRun) -> StartRequest:
    """A StartRun's typed fields (`extra_json` only as written by an earlier version)."""
    legacy = load_object(payload.extra_json) if payload.extra_json else {}
    parent = None
    if payload.parent_run_id:
        parent = ParentLink(
            run_id=payload.parent_run_id, step=payload.parent_node_id,
            attempt=payload.parent_attempt or 1, depth=payload.parent_depth or 1,
        )  # fmt: skip
    if "parent" in legacy:
        parent = ParentLink.model_validate(legacy["parent"])
    replay_of = None
    if payload.HasField("replay_of"):
        replay_of = ReplayOrigin(run_id=payload.replay_of.run_id, seq=payload.replay_of.seq)
    elif "replayOf" in legacy:
        replay_of = ReplayOrigin.model_validate(legacy["replayOf"])
    restored = None
    if payload.HasField("restored"):
        restored = Restored(
            outputs=load_object(payload.restored.outputs_json),
            order=tuple(payload.restored.order),
            vars=load(payload.restored.vars_json),
            items=load_object(payload.restored.items_json) if payload.restored.items_json else {},
        )
    elif "restored" in legacy:
        restored = Restored.model_validate(legacy["restored"])
    return StartRequest(
        command_id=payload.command_id, run_id=payload.run_id,
        tenant_id=envelope.tenant_id or "default", workflow=payload.workflow_id,
        version=payload.workflow_version, input=load(payload.input_json),
        parent=parent, replay_of=replay_of, restored=restored,
    )  # fmt: skip


def _vote_message(vote: ApprovalVote) -> pb.ApprovalVote:
    message = pb.ApprovalVote(
        decided_by=vote.by,
        decision=(
            pb.Decision.DECISION_REJECTED
            if vote.decision == "reject"
            else pb.Decision.DECISION_APPROVED
        ),
        comment=vote.comment or "",
    )
    if vote.decided_at is not None:
        message.decided_at.CopyFrom(timestamp(vote.decided_at))
    return message


def _vote_of(message: pb.ApprovalVote) -> ApprovalVote:
    return ApprovalVote(
        by=message.decided_by,
        decision="reject" if message.decision == pb.Decision.DECISION_REJECTED else "approve",
        comment=message.comment or None,
        decided_at=(
            message.decided_at.ToDatetime(tzinfo=UTC) if message.HasField("decided_at") else None
        ),
    )
