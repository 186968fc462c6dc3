"""The core's commands and effects in their Kafka form, and back.

The bus carries protobuf envelopes that workers in any language can read; the core speaks
pydantic models. This package is the one place that maps between them, so services never
hand-build a protobuf message and the mapping is tested once, in both directions. Every
attribute has a typed field in `proto/`; no first-party producer writes `extra_json`
(`tests/test_no_extra_json.py`), which decoders read only from messages an earlier version
wrote.
"""

from tideflow.wire._commands import (
    StartRequest,
    WireCommand,
    command_envelope,
    decode_command,
)
from tideflow.wire._effects import effect_messages, event_message
from tideflow.wire._limits import engine_limits
from tideflow.wire._tasks import (
    accepted_envelope,
    attach_logs,
    cancel_of,
    result_envelope,
    step_logs,
    task_of,
)

__all__ = [
    "StartRequest",
    "WireCommand",
    "accepted_envelope",
    "attach_logs",
    "cancel_of",
    "command_envelope",
    "decode_command",
    "effect_messages",
    "engine_limits",
    "event_message",
    "result_envelope",
    "step_logs",
    "task_of",
]
