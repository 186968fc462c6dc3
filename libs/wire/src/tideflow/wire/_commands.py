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


def _poll_extra(poll: StepPoll | None) -> bytes:
    if poll is None:
        return b""
    return dump({"poll": {"after": poll.after.total_seconds(), "state": poll.state}})


def _payload(command: Command) -> Any:  # noqa: PLR0911 - one branch per command type
    common: dict[str, Any] = {"command_id": command.command_id, "run_id": command.run_id}
    match command:
        case StartRun():
            extra = {
                key: value.model_dump(mode="json", by_alias=True)
                for key, value in (
                    ("parent", command.parent),
                    ("replayOf", command.replay_of),
                    ("restored", command.restored),
                )
                if value is not None
            }
            return pb.StartRun(
                **common, workflow_id=command.workflow, workflow_version=command.version,
                input_json=dump(command.input),
                parent_run_id=command.parent.run_id if command.parent else "",
                parent_node_id=command.parent.step if command.parent else "",
                extra_json=dump(extra or None),
            )  # fmt: skip
        case StepResult():
            result = pb.StepResult(**common, node_id=command.step, attempt=command.attempt)
            if command.ok:
                result.success.output_json = dump(command.output)
                result.extra_json = _poll_extra(command.poll)
            else:
                error = command.error or StepError(type="Error", message="failed")
                result.failure.error_type = error.type
                result.failure.message = error.message
                result.failure.retryable = error.retryable
            return result
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
            return pb.Cancel(**common, reason=command.reason or "", requested_by=command.by or "")
        case StepAccepted():
            return pb.StepResult(
                **common, node_id=command.step, attempt=command.attempt,
                extra_json=dump({"accepted": True, "worker": command.worker}),
            )  # fmt: skip
    raise TypeError(f"{type(command).__name__} has no wire form")


def decode_command(envelope: pb.Envelope) -> WireCommand:  # noqa: PLR0911 - one per type
    """The command an envelope on `tideflow.runs` carries; TypeError for other payloads."""
    payload = payload_of(envelope)
    match payload:
        case pb.StartRun():
            extra = load_object(payload.extra_json)
            return StartRequest(
                command_id=payload.command_id, run_id=payload.run_id,
                tenant_id=envelope.tenant_id or "default", workflow=payload.workflow_id,
                version=payload.workflow_version, input=load(payload.input_json),
                parent=ParentLink.model_validate(extra["parent"]) if "parent" in extra else None,
                replay_of=(
                    ReplayOrigin.model_validate(extra["replayOf"]) if "replayOf" in extra else None
                ),
                restored=(
                    Restored.model_validate(extra["restored"]) if "restored" in extra else None
                ),
            )  # fmt: skip
        case pb.StepResult():
            extra = load_object(payload.extra_json)
            common: dict[str, Any] = {
                "command_id": payload.command_id, "run_id": payload.run_id,
                "step": payload.node_id, "attempt": payload.attempt,
            }  # fmt: skip
            if extra.get("accepted"):
                return StepAccepted(**common, worker=extra.get("worker"))
            if payload.WhichOneof("outcome") == "success":
                poll = extra.get("poll")
                return StepResult(
                    **common, ok=True, output=load(payload.success.output_json),
                    poll=StepPoll.model_validate(poll) if isinstance(poll, dict) else None,
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
            )  # fmt: skip
    raise TypeError(f"{envelope.type} is not a run command")


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
