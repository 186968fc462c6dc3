"""The generated protobuf message classes of proto/tideflow/v1, under stable names."""

from tideflow.bus._proto.v1.commands_pb2 import (
    ApprovalDecision,
    ApprovalVote,
    Cancel,
    Decision,
    Replay,
    Signal,
    StartRun,
    StepFailure,
    StepResult,
    StepSuccess,
    TimerFired,
)
from tideflow.bus._proto.v1.dlq_pb2 import DeadLetter, Header
from tideflow.bus._proto.v1.envelope_pb2 import Envelope, TraceContext
from tideflow.bus._proto.v1.events_pb2 import RunEvent
from tideflow.bus._proto.v1.tasks_pb2 import CancelTask, Task

__all__ = [
    "ApprovalDecision",
    "ApprovalVote",
    "Cancel",
    "CancelTask",
    "DeadLetter",
    "Decision",
    "Envelope",
    "Header",
    "Replay",
    "RunEvent",
    "Signal",
    "StartRun",
    "StepFailure",
    "StepResult",
    "StepSuccess",
    "Task",
    "TimerFired",
    "TraceContext",
]
