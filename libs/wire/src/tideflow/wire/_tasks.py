"""The executor's side: a Task off the wire, and its outcome back as a StepResult.

Every attribute travels in its own typed field. `extra_json` is read only as a fallback
for messages an earlier version wrote (still in a topic or the bus journal after an
upgrade); nothing first-party writes it any more.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
    legacy = load_object(task.extra_json) if task.extra_json else {}
    timeout = task.timeout.ToTimedelta() if task.HasField("timeout") else None
    start_by = from_timestamp(task.start_by) if task.HasField("start_by") else None
    if start_by is None and legacy.get("startBy"):
        start_by = datetime.fromisoformat(legacy["startBy"])
    spec = TaskSpec(
        run_id=task.run_id, node_id=task.node_id, attempt=task.attempt,
        node_type=task.node_type, config=_config(load(task.config_json)), timeout=timeout,
        tenant_id=envelope.tenant_id or "default", idempotency_key=task.idempotency_key or None,
        start_by=start_by, deadline=deadline_of(task), poll_state=_poll_state(task, legacy),
    )  # fmt: skip
    paths = [_path(p) for p in task.secret_paths]
    paths += [tuple(path) for path in legacy.get("secretPaths", [])]
    return spec, paths


def _poll_state(task: pb.Task, legacy: dict[str, Any]) -> Any:
    return load(task.poll_state_json) if task.poll_state_json else legacy.get("pollState")


def _path(path: pb.SecretPath) -> SecretPath:
    return tuple(s.index if s.WhichOneof("segment") == "index" else s.key for s in path.segments)


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
        result.poll.after.FromTimedelta(outcome.after)
        result.poll.state_json = dump(outcome.state)
    else:
        result.success.output_json = dump(outcome.output)
    envelope = new_envelope(
        result, tenant_id=spec.tenant_id, run_id=spec.run_id, message_id=command_id
    )
    return Outgoing(topics.runs, spec.run_id, envelope)


def accepted_envelope(spec: TaskSpec, *, worker: str, topics: Topics) -> Outgoing:
    """Tells the scheduler a worker has started an attempt (so its schedule-to-start
    timer no longer applies); at most one per attempt, by its id."""
    command = StepAccepted(
        command_id=ids.accepted_command_id(spec.run_id, spec.node_id, spec.attempt),
        run_id=spec.run_id, step=spec.node_id, attempt=spec.attempt, worker=worker,
    )  # fmt: skip
    return Outgoing(topics.runs, spec.run_id, command_envelope(command, tenant_id=spec.tenant_id))


def attach_logs(result: Outgoing, lines: list[dict[str, Any]]) -> None:
    """Carry the lines a task logged (`ts` ISO 8601, `level`, `message`) with its result."""
    for line in lines:
        entry = pb.StepLogLine(level=str(line.get("level", "info")),
                               message=str(line.get("message", "")))  # fmt: skip
        if line.get("ts"):
            entry.ts.CopyFrom(timestamp(datetime.fromisoformat(line["ts"])))
        result.envelope.step_result.logs.append(entry)


def step_logs(envelope: pb.Envelope) -> list[LogLine]:
    """The log lines an executor attached to a StepResult (none for other messages)."""
    if envelope.WhichOneof("payload") != "step_result":
        return []
    result = envelope.step_result
    tenant = envelope.tenant_id or "default"
    typed = [
        LogLine(
            run_id=result.run_id,
            node_id=result.node_id,
            level=line.level or "info",
            message=line.message,
            attempt=result.attempt,
            tenant_id=tenant,
            ts=from_timestamp(line.ts) if line.HasField("ts") else None,
        )
        for line in result.logs
    ]
    if not result.extra_json:
        return typed
    lines = load_object(result.extra_json).get("logs") or []  # written by an earlier version
    return typed + [
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
