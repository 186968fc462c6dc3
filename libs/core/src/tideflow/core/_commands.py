"""Commands: requests to change a run, each with an id so redelivery is harmless.

The names are imperative where an event of the same name exists (`FireTimer` is the
command, `TimerFired` the event). `Replay` is not decided by the run it creates: the
engine reads the source run's events and turns it into a `StartRun` with `fork`.
"""

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from tideflow.core._definition import WorkflowDefinition
from tideflow.core._durations import Duration
from tideflow.core._events import (
    ApprovalVote,
    ParentLink,
    RecordModel,
    ReplayOrigin,
    Restored,
    StepError,
)
from tideflow.core._limits import Limits


class Command(RecordModel):
    """Base of all commands."""

    type: ClassVar[str]
    command_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = cls.__name__


class StartRun(Command):
    """Start a run of a pinned workflow version."""

    workflow: str
    version: int = 1
    definition: WorkflowDefinition
    input: Any = None
    parent: ParentLink | None = None
    replay_of: ReplayOrigin | None = None
    restored: Restored | None = None
    limits: Limits | None = None
    """Set by the scheduler from `TIDEFLOW_LIMITS_*`; pinned in RunStarted."""


class StepPoll(RecordModel):
    """The attempt is not done: call the node again after `after`, handing it `state`."""

    after: Duration
    state: Any = None


class StepResult(Command):
    """A worker's (or child run's) result for one attempt of a step."""

    step: str
    attempt: int
    ok: bool
    output: Any = None
    error: StepError | None = None
    poll: StepPoll | None = None
    """With `ok`: not a result yet; poll again later (see `StepPollScheduled`)."""


class StepAccepted(Command):
    """A worker began an attempt (optional; makes `running` visible)."""

    step: str
    attempt: int
    worker: str | None = None


class FireTimer(Command):
    """A durable timer is due."""

    timer_id: str


class Signal(Command):
    """Send a named signal with data to a run."""

    name: str
    data: Any = None


class ApprovalDecision(Command):
    """People decided an approval step (the approval service counted the quorum)."""

    step: str
    approved: bool
    decided_by: str | None = None
    comment: str | None = None
    decisions: tuple[ApprovalVote, ...] = ()
    decided_at: datetime | None = None
    attempt: int | None = None
    """The attempt decided; None: whichever attempt is waiting."""


class Cancel(Command):
    """Cancel a run: active steps are cancelled, compensations run.

    With `fail`, an operator ends the run as *failed* instead (`POST /runs/{id}/fail`):
    the same stop and unwinding, then RunFailed (or RunCompensated) with the error type
    `ManuallyFailed` and the reason, as if a step had failed for good.
    """

    reason: str | None = None
    by: str | None = None
    fail: bool = False


class Replay(Command):
    """Start run `run_id` from the state of `source_run_id` after event `seq`."""

    source_run_id: str
    seq: int = Field(ge=0)
    input: Any = None


RunCommand = StartRun | StepResult | StepAccepted | FireTimer | Signal | ApprovalDecision | Cancel
"""The commands `decide` handles."""

COMMAND_TYPES: dict[str, type[Command]] = {
    cls.type: cls
    for cls in (
        StartRun,
        StepResult,
        StepAccepted,
        FireTimer,
        Signal,
        ApprovalDecision,
        Cancel,
        Replay,
    )
}


def command_to_record(command: Command) -> tuple[str, dict[str, Any]]:
    """The `(type, data)` pair sent on the bus."""
    return command.type, command.model_dump(mode="json", by_alias=True, exclude_none=True)


def command_from_record(command_type: str, data: dict[str, Any]) -> Command:
    """Rebuild a command; unknown types raise KeyError, bad data a pydantic ValidationError."""
    return COMMAND_TYPES[command_type].model_validate(data)
