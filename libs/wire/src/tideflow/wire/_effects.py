"""Effects of a decision -> the Kafka messages to write to the outbox; log events -> the
public stream.

Timers are not messages (the scheduler stores them). Public events are not outbox rows:
the scheduler's publisher follows the log and sends `event_message` for each. Every
message id is derived from the effect's or event's coordinates (run, step, attempt,
child run, seq), so a message sent again is recognised downstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.bus import Outgoing, Topics, new_envelope, pb
from tideflow.core import (
    Cancel,
    CancelChildRun,
    CancelTask,
    DispatchTask,
    Effect,
    NotifyParent,
    StartChildRun,
    StepResult,
    ids,
)
from tideflow.wire._commands import command_envelope
from tideflow.wire._json import dump, duration, timestamp

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tideflow.store import StoredEvent


def effect_messages(effects: Sequence[Effect], *, topics: Topics, tenant_id: str) -> list[Outgoing]:
    """The outbox messages for dispatches, cancellations, child runs and parent notices."""
    out: list[Outgoing] = []
    for effect in effects:
        message = _message(effect, topics=topics, tenant_id=tenant_id)
        if message is not None:
            out.append(message)
    return out


def secret_path(path: tuple[str | int, ...]) -> pb.SecretPath:
    """A path into a config as its typed wire form (keys and list indexes)."""
    return pb.SecretPath(
        segments=[
            pb.PathSegment(index=part) if isinstance(part, int) else pb.PathSegment(key=part)
            for part in path
        ]
    )


def _message(effect: Effect, *, topics: Topics, tenant_id: str) -> Outgoing | None:
    match effect:
        case DispatchTask():
            task = pb.Task(
                run_id=effect.run_id, node_id=effect.step, attempt=effect.attempt,
                node_type=effect.node_type, queue=effect.queue, config_json=dump(effect.config),
                idempotency_key=effect.idempotency_key or "", definition_node_id=effect.node_id,
                secret_paths=[secret_path(p) for p in effect.secret_paths],
            )  # fmt: skip
            if effect.start_by is not None:
                task.start_by.CopyFrom(timestamp(effect.start_by))
            # what the previous attempt handed back when it asked to be polled
            task.poll_state_json = dump(effect.poll_state)
            if effect.timeout is not None:
                task.timeout.CopyFrom(duration(effect.timeout))
            if effect.deadline is not None:
                task.deadline.CopyFrom(timestamp(effect.deadline))
            envelope = new_envelope(
                task, tenant_id=tenant_id, run_id=effect.run_id,
                message_id=ids.task_message_id(effect.run_id, effect.step, effect.attempt),
            )  # fmt: skip
            return Outgoing(topics.tasks(effect.queue), effect.run_id, envelope)
        case CancelTask():
            cancel = pb.CancelTask(
                run_id=effect.run_id, node_id=effect.step, attempt=effect.attempt,
                reason="the run no longer wants this attempt",
            )  # fmt: skip
            envelope = new_envelope(
                cancel, tenant_id=tenant_id, run_id=effect.run_id,
                message_id=ids.cancel_task_message_id(effect.run_id, effect.step, effect.attempt),
            )  # fmt: skip
            return Outgoing(topics.task_cancels(effect.queue), effect.run_id, envelope)
        case StartChildRun():
            start = pb.StartRun(
                command_id=ids.start_command_id(effect.child_run_id), run_id=effect.child_run_id,
                workflow_id=effect.workflow, workflow_version=effect.version or 0,
                input_json=dump(effect.input), parent_run_id=effect.run_id,
                parent_node_id=effect.parent_step, parent_attempt=effect.attempt,
                parent_depth=effect.depth,
            )  # fmt: skip
            envelope = new_envelope(
                start, tenant_id=tenant_id, run_id=effect.child_run_id,
                message_id=start.command_id,
            )  # fmt: skip
            return Outgoing(topics.runs, effect.child_run_id, envelope)
        case CancelChildRun():
            command = Cancel(
                command_id=ids.child_cancel_command_id(effect.child_run_id),
                run_id=effect.child_run_id, reason="parent step abandoned",
            )  # fmt: skip
            return Outgoing(
                topics.runs, effect.child_run_id,
                command_envelope(command, tenant_id=tenant_id),
            )  # fmt: skip
        case NotifyParent():
            result = StepResult(
                command_id=ids.child_ended_command_id(effect.run_id), run_id=effect.parent_run_id,
                step=effect.step, attempt=effect.attempt, ok=effect.ok, output=effect.output,
                error=effect.error,
            )  # fmt: skip
            return Outgoing(
                topics.runs, effect.parent_run_id, command_envelope(result, tenant_id=tenant_id)
            )
    return None


def event_message(
    event: StoredEvent, *, topics: Topics, workflow_id: str, version: int
) -> Outgoing:
    """One stored event on the public `tideflow.events` stream, id `run:seq`."""
    message = pb.RunEvent(
        run_id=event.run_id, seq=event.seq, type=event.type,
        recorded_at=timestamp(event.recorded_at), data_json=dump(event.data),
        workflow_id=workflow_id, workflow_version=version,
    )  # fmt: skip
    envelope = new_envelope(
        message, tenant_id=event.tenant_id, run_id=event.run_id,
        message_id=ids.event_message_id(event.run_id, event.seq),
    )  # fmt: skip
    return Outgoing(topics.events, event.run_id, envelope)
