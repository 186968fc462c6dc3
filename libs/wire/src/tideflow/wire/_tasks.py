"""The executor's side: a Task off the wire, and its outcome back as a StepResult."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tideflow.bus import Outgoing, Topics, new_envelope, pb
from tideflow.core import StepAccepted, ids
from tideflow.nodes import StepFailure, StepOutcome, StepPending, TaskSpec
from tideflow.store import LogLine
from tideflow.wire._commands import command_envelope
from tideflow.wire._json import dump, from_timestamp, load, load_object, timestamp

SecretPath = tuple[str | int, ...]


def task_of(envelope: pb.Envelope, task: pb.Task) -> tuple[TaskSpec, list[SecretPath]]:
    """The handler's view of a task, and where its config still holds secret templates."""
    extra = load_object(task.extra_json)
    timeout = task.timeout.ToTimedelta() if task.HasField("timeout") else None
    spec = TaskSpec(
        run_id=task.run_id, node_id=task.node_id, attempt=task.attempt,
        node_type=task.node_type, config=_config(load(task.config_json)), timeout=timeout,
        tenant_id=envelope.tenant_id or "default", idempotency_key=task.idempotency_key or None,
        start_by=datetime.fromisoformat(extra["startBy"]) if extra.get("startBy") else None,
        poll_state=extra.get("pollState"),
    )  # fmt: skip
    paths = [tuple(path) for path in extra.get("secretPaths", [])]
    return spec, paths


def deadline_of(task: pb.Task) -> datetime | None:
    return from_timestamp(task.deadline) if task.HasField("deadline") else None


def _config(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


def cancel_of(cancel: pb.CancelTask) -> tuple[str, str, int]:
    """(run, step, attempt) of a cancellation."""
    return cancel.run_id, cancel.node_id, cancel.attempt


def result_envelope(
    spec: TaskSpec,
    outcome: StepOutcome,
    *,
    topics: Topics,
    started_at: datetime,
    finished_at: datetime | None = None,
) -> Outgoing:
    """The StepResult command for one attempt; its id makes a re-sent result harmless."""
    command_id = ids.result_command_id(spec.run_id, spec.node_id, spec.attempt)
    result = pb.StepResult(
        command_id=command_id, run_id=spec.run_id, node_id=spec.node_id, attempt=spec.attempt,
        started_at=timestamp(started_at),
        finished_at=timestamp(finished_at or datetime.now(UTC)),
    )  # fmt: skip
    if isinstance(outcome, StepFailure):
        result.failure.error_type = outcome.error_type
        result.failure.message = outcome.message
        result.failure.retryable = outcome.retryable
        result.failure.details_json = dump(outcome.details or None)
    elif isinstance(outcome, StepPending):
        result.success.output_json = dump(None)
        result.extra_json = dump(poll_extra(outcome.after, outcome.state))
    else:
        result.success.output_json = dump(outcome.output)
    envelope = new_envelope(
        result, tenant_id=spec.tenant_id, run_id=spec.run_id, message_id=command_id
    )
    return Outgoing(topics.runs, spec.run_id, envelope)


def poll_extra(after: timedelta, state: Any) -> dict[str, Any]:
    """How a StepResult that asks to be polled again says so (in its `extra_json`)."""
    return {"poll": {"after": after.total_seconds(), "state": state}}


def accepted_envelope(spec: TaskSpec, *, worker: str, topics: Topics) -> Outgoing:
    """Tells the scheduler a worker has started an attempt (so its schedule-to-start
    timer no longer applies); at most one per attempt, by its id."""
    command = StepAccepted(
        command_id=ids.accepted_command_id(spec.run_id, spec.node_id, spec.attempt),
        run_id=spec.run_id, step=spec.node_id, attempt=spec.attempt, worker=worker,
    )  # fmt: skip
    return Outgoing(topics.runs, spec.run_id, command_envelope(command, tenant_id=spec.tenant_id))


def step_logs(envelope: pb.Envelope) -> list[LogLine]:
    """The log lines an executor attached to a StepResult (none for other messages)."""
    if envelope.WhichOneof("payload") != "step_result":
        return []
    result = envelope.step_result
    lines = load_object(result.extra_json).get("logs") or []
    return [
        LogLine(
            run_id=result.run_id,
            node_id=result.node_id,
            level=str(line.get("level", "info")),
            message=str(line.get("message", "")),
            attempt=result.attempt,
            ts=datetime.fromisoformat(line["ts"]) if line.get("ts") else None,
            tenant_id=envelope.tenant_id or "default",
        )
        for line in lines
        if isinstance(line, dict)
    ]
