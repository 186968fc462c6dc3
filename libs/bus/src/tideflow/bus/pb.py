"""The generated protobuf message classes of proto/tideflow/v1, under stable names."""

from tideflow.bus._proto.v1.commands_pb2 import (
    ApprovalDecision,
    ApprovalVote,
    Cancel,
    Decision,
    Replay,
    ReplayOrigin,
    Restored,
    Signal,
    StartRun,
    StepAcceptance,
    StepFailure,
    StepLogLine,
    StepPoll,
    StepResult,
    StepSuccess,
    TimerFired,
)
from tideflow.bus._proto.v1.dlq_pb2 import DeadLetter, Header
from tideflow.bus._proto.v1.envelope_pb2 import Envelope, TraceContext
from tideflow.bus._proto.v1.events_pb2 import RunEvent
from tideflow.bus._proto.v1.tasks_pb2 import CancelTask, PathSegment, SecretPath, Task

__all__ = [
    "ApprovalDecision",
    "ApprovalVote",
    "Cancel",
    "CancelTask",
    "DeadLetter",
    "Decision",
    "Envelope",
    "Header",
    "PathSegment",
    "Replay",
    "ReplayOrigin",
    "Restored",
    "RunEvent",
    "SecretPath",
    "Signal",
    "StartRun",
    "StepAcceptance",
    "StepFailure",
    "StepLogLine",
    "StepPoll",
    "StepResult",
    "StepSuccess",
    "Task",
    "TimerFired",
    "TraceContext",
]
