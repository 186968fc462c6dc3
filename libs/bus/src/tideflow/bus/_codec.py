"""Envelope encoding: protobuf on the wire, JSON (orjson) for free-form fields.

Decoding is strict because a message that half-decodes is worse than one that goes to the
dead-letter topic: the payload oneof must be set and must match `type`, and the ids that
idempotency and partitioning rely on must be present. Trace context follows W3C; an invalid
`traceparent` read from a message is ignored (as the spec asks), one we are asked to write
is an error.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import orjson
from google.protobuf.message import DecodeError

from tideflow.bus._errors import CodecError, CodecErrorCode
from tideflow.bus._proto.v1.commands_pb2 import (
    ApprovalDecision,
    Cancel,
    Replay,
    Signal,
    StartRun,
    StepResult,
    TimerFired,
)
from tideflow.bus._proto.v1.dlq_pb2 import DeadLetter
from tideflow.bus._proto.v1.envelope_pb2 import Envelope
from tideflow.bus._proto.v1.events_pb2 import RunEvent
from tideflow.bus._proto.v1.tasks_pb2 import CancelTask, Task
from tideflow.telemetry import current_traceparent

if TYPE_CHECKING:
    from datetime import datetime

Payload: TypeAlias = (
    StartRun
    | StepResult
    | TimerFired
    | Signal
    | ApprovalDecision
    | Cancel
    | Replay
    | Task
    | CancelTask
    | RunEvent
    | DeadLetter
)

# oneof field name in Envelope.payload for every payload type
_FIELDS: Final[dict[str, str]] = {
    StartRun.DESCRIPTOR.full_name: "start_run",
    StepResult.DESCRIPTOR.full_name: "step_result",
    TimerFired.DESCRIPTOR.full_name: "timer_fired",
    Signal.DESCRIPTOR.full_name: "signal",
    ApprovalDecision.DESCRIPTOR.full_name: "approval_decision",
    Cancel.DESCRIPTOR.full_name: "cancel",
    Replay.DESCRIPTOR.full_name: "replay",
    Task.DESCRIPTOR.full_name: "task",
    CancelTask.DESCRIPTOR.full_name: "cancel_task",
    RunEvent.DESCRIPTOR.full_name: "run_event",
    DeadLetter.DESCRIPTOR.full_name: "dead_letter",
}
_TRACEPARENT_RE: Final = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A validated W3C trace context (the two HTTP/Kafka header values)."""

    traceparent: str
    tracestate: str = ""

    @property
    def trace_id(self) -> str:
        return self.traceparent.split("-")[1]

    @property
    def span_id(self) -> str:
        return self.traceparent.split("-")[2]


def parse_traceparent(traceparent: str, tracestate: str = "") -> TraceContext:
    """Validate a `traceparent` header value; raise CodecError when it is malformed."""
    match = _TRACEPARENT_RE.fullmatch(traceparent.strip())
    if match is None:
        raise CodecError(CodecErrorCode.INVALID_TRACEPARENT, f"malformed {traceparent!r}")
    version, trace_id, span_id, _flags = match.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        raise CodecError(CodecErrorCode.INVALID_TRACEPARENT, f"invalid ids in {traceparent!r}")
    return TraceContext(traceparent=match.group(0), tracestate=tracestate.strip())


def inject_trace(envelope: Envelope, traceparent: str, tracestate: str = "") -> None:
    """Put a trace context into an envelope (validated, so consumers can trust it)."""
    context = parse_traceparent(traceparent, tracestate)
    envelope.trace.traceparent = context.traceparent
    envelope.trace.tracestate = context.tracestate


def extract_trace(envelope: Envelope) -> TraceContext | None:
    """The envelope's trace context, or None when it has none or an invalid one."""
    if not envelope.trace.traceparent:
        return None
    try:
        return parse_traceparent(envelope.trace.traceparent, envelope.trace.tracestate)
    except CodecError:
        return None


def new_envelope(
    payload: Payload,
    *,
    tenant_id: str,
    run_id: str,
    message_id: str | None = None,
    produced_at: datetime | None = None,
    traceparent: str | None = None,
    tracestate: str = "",
) -> Envelope:
    """Wrap a payload; pass a deterministic message_id when the send may be retried.

    Without an explicit `traceparent` the message carries the current span's context
    (if any): a message sent while handling a request or a step is part of its trace.
    """
    field = _FIELDS.get(payload.DESCRIPTOR.full_name)
    if field is None:  # pragma: no cover - the Payload type already rules this out
        raise TypeError(f"{payload.DESCRIPTOR.full_name} is not an envelope payload")
    envelope = Envelope(
        message_id=message_id or str(uuid.uuid4()),
        tenant_id=tenant_id,
        run_id=run_id,
        type=payload.DESCRIPTOR.full_name,
    )
    if produced_at is None:  # FromDatetime's utctimetuple costs more than the rest of this
        envelope.produced_at.FromNanoseconds(time.time_ns())
    else:
        envelope.produced_at.FromDatetime(produced_at)
    getattr(envelope, field).CopyFrom(payload)
    if traceparent is None and (current := current_traceparent()) is not None:
        traceparent, tracestate = current
    if traceparent:
        inject_trace(envelope, traceparent, tracestate)
    return envelope


def payload_of(envelope: Envelope) -> Payload:
    """The typed payload of a (decoded, hence valid) envelope."""
    field = envelope.WhichOneof("payload")
    if field is None:
        raise CodecError(CodecErrorCode.MISSING_PAYLOAD, "envelope has no payload")
    payload: Payload = getattr(envelope, field)
    return payload


def _check(envelope: Envelope) -> None:
    field = envelope.WhichOneof("payload")
    if field is None:
        raise CodecError(
            CodecErrorCode.MISSING_PAYLOAD, "envelope has no payload (or one this version lacks)"
        )
    if _FIELDS.get(envelope.type) != field:
        raise CodecError(
            CodecErrorCode.TYPE_MISMATCH,
            f"type {envelope.type!r} does not match payload field {field!r}",
        )
    if not envelope.message_id:
        raise CodecError(CodecErrorCode.MISSING_FIELD, "envelope has no message_id")


def encode_envelope(envelope: Envelope) -> bytes:
    """Serialize an envelope, refusing ones a consumer would dead-letter."""
    _check(envelope)
    return envelope.SerializeToString(deterministic=True)


def decode_envelope(data: bytes) -> Envelope:
    """Parse and validate record bytes; CodecError says why they are unusable."""
    envelope = Envelope()
    try:
        envelope.ParseFromString(data)
    except (DecodeError, ValueError) as e:
        raise CodecError(CodecErrorCode.INVALID_PROTOBUF, f"not an Envelope: {e}") from e
    _check(envelope)
    return envelope


def dump_json(value: Any) -> bytes:
    """JSON for `*_json` fields; orjson handles datetimes, UUIDs and dataclasses natively."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as e:
        raise CodecError(CodecErrorCode.INVALID_JSON, f"not JSON-serializable: {e}") from e


def load_json(data: bytes) -> Any:
    """Parse a `*_json` field; empty bytes mean "absent" and load as None."""
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise CodecError(CodecErrorCode.INVALID_JSON, f"invalid JSON: {e}") from e
