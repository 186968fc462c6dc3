"""An in-memory driver of one run, for tests, docs and local dry runs.

`LocalRun` plays the adapter's part without IO: it feeds commands to `decide`, keeps the
events, and offers the worker's and the clock's moves (complete a task, fire due timers)
so a workflow's behaviour can be checked step by step with fake time.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from tideflow.core._commands import (
    ApprovalDecision,
    Cancel,
    FireTimer,
    RunCommand,
    Signal,
    StartRun,
    StepPoll,
    StepResult,
)
from tideflow.core._context import PinnedDefinition, RunContext
from tideflow.core._decide import decide
from tideflow.core._definition import WorkflowDefinition
from tideflow.core._events import Event, StepError
from tideflow.core._state import RunState, StepState, StepStatus
from tideflow.core._validation import parse_definition
from tideflow.core.nodes import BUILTIN_NODE_TYPES, Execution, NodeTypes

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class LocalRun:
    """One run driven in memory with a fake clock."""

    def __init__(
        self,
        definition: WorkflowDefinition | str | dict[str, Any],
        *,
        run_id: str = "run-1",
        now: datetime = EPOCH,
        types: NodeTypes = BUILTIN_NODE_TYPES,
    ) -> None:
        self.definition = (
            definition
            if isinstance(definition, WorkflowDefinition)
            else parse_definition(definition, types)
        )
        self.run_id = run_id
        self.now = now
        self.state = RunState()
        self.context = RunContext(PinnedDefinition.published(self.definition, types))
        """The run's context, held here as the scheduler's run cache holds it."""
        self.events: list[Event] = []
        self.commands: list[RunCommand] = []
        self.history: list[tuple[datetime, RunCommand]] = []
        """Every command sent, with the clock reading it was decided at."""
        self._counter = 0

    def next_id(self) -> str:
        """A fresh command id."""
        self._counter += 1
        return f"cmd-{self._counter}"

    def send(self, command: RunCommand) -> list[Event]:
        """Decide a command and apply its events."""
        self.commands.append(command)
        self.history.append((self.now, command))
        decided = decide(self.state, command, self.now, self.context)
        self.state = decided.state
        self.events.extend(decided.events)
        return list(decided.events)

    def start(self, input: Any = None, **extra: Any) -> list[Event]:  # noqa: A002
        """Send StartRun."""
        return self.send(
            StartRun(
                command_id=self.next_id(),
                run_id=self.run_id,
                workflow=self.definition.metadata.name,
                definition=self.definition,
                input=input,
                **extra,
            )
        )

    def tasks(self) -> list[StepState]:
        """Worker steps that wait for a result, in step order."""
        return [
            s
            for s in self.state.steps.values()
            if s.execution is Execution.DISPATCH
            and s.status in {StepStatus.SCHEDULED, StepStatus.RUNNING}
        ]

    def complete(self, step: str, output: Any = None) -> list[Event]:
        """Report success of the current attempt of `step`."""
        attempt = self.state.steps[step].attempt
        return self.send(
            StepResult(
                command_id=self.next_id(), run_id=self.run_id, step=step, attempt=attempt,
                ok=True, output=output,
            )
        )  # fmt: skip

    def fail(
        self, step: str, error_type: str = "Error", message: str = "boom", *, retryable: bool = True
    ) -> list[Event]:
        """Report failure of the current attempt of `step`."""
        attempt = self.state.steps[step].attempt
        error = StepError(type=error_type, message=message, retryable=retryable)
        return self.send(
            StepResult(
                command_id=self.next_id(), run_id=self.run_id, step=step, attempt=attempt,
                ok=False, error=error,
            )
        )  # fmt: skip

    def poll(self, step: str, after: timedelta, state: Any = None) -> list[Event]:
        """Report that the current attempt of `step` wants to be polled again later."""
        attempt = self.state.steps[step].attempt
        return self.send(
            StepResult(
                command_id=self.next_id(), run_id=self.run_id, step=step, attempt=attempt,
                ok=True, poll=StepPoll(after=after, state=state),
            )
        )  # fmt: skip

    def advance(self, by: timedelta) -> list[Event]:
        """Move the clock and fire every timer that became due, earliest first."""
        self.now += by
        fired: list[Event] = []
        while True:
            due = sorted(
                (t for t in self.state.timers.values() if t.fire_at <= self.now),
                key=lambda t: (t.fire_at, t.timer_id),
            )
            if not due:
                return fired
            fired.extend(
                self.send(
                    FireTimer(
                        command_id=self.next_id(), run_id=self.run_id, timer_id=due[0].timer_id
                    )
                )
            )

    def signal(self, name: str, data: Any = None) -> list[Event]:
        """Send a signal."""
        return self.send(
            Signal(command_id=self.next_id(), run_id=self.run_id, name=name, data=data)
        )

    def decide_approval(
        self, step: str, *, approved: bool, by: str | None = "alice", comment: str | None = None
    ) -> list[Event]:
        """Approve or reject an approval step."""
        return self.send(
            ApprovalDecision(
                command_id=self.next_id(), run_id=self.run_id, step=step, approved=approved,
                decided_by=by, comment=comment,
            )
        )  # fmt: skip

    def cancel(self, reason: str | None = None) -> list[Event]:
        """Cancel the run."""
        return self.send(Cancel(command_id=self.next_id(), run_id=self.run_id, reason=reason))

    def event_types(self, events: Iterable[Event] | None = None) -> list[str]:
        """The type names of events (all by default), for compact assertions."""
        return [e.type for e in (self.events if events is None else events)]
