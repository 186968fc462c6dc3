"""Time travel and replay: the state after any event, and forking a new run from it."""

from collections.abc import Sequence
from typing import Any

from tideflow.core._commands import Replay, StartRun
from tideflow.core._events import Event, ReplayOrigin, Restored, StepRole
from tideflow.core._evolve import fold
from tideflow.core._state import RunState, StepStatus


def state_at(events: Sequence[Event], seq: int) -> RunState:
    """The run state right after event number `seq` (1-based; 0 is before the start)."""
    if seq < 0:
        raise ValueError("seq must not be negative")
    return fold(events[:seq])


_UNSET: Any = object()


def fork(
    events: Sequence[Event],
    seq: int,
    *,
    run_id: str,
    command_id: str,
    input: Any = _UNSET,  # noqa: A002 - the run input, named as everywhere else
) -> StartRun:
    """A StartRun for a new run that continues from the state after event `seq`.

    Flow steps that had succeeded by then keep their outputs and are not run again; every
    other step runs afresh. Pass `input` to change the run input for the new run.
    """
    state = state_at(events, seq)
    if state.definition is None:
        raise ValueError(f"no run has started by event {seq}")
    outputs = {
        key: step.output
        for key, step in state.steps.items()
        if step.role is StepRole.FLOW and step.status is StepStatus.SUCCEEDED
    }
    return StartRun(
        command_id=command_id,
        run_id=run_id,
        workflow=state.workflow,
        version=state.version,
        definition=state.definition,
        input=state.input if input is _UNSET else input,
        parent=state.parent,
        replay_of=ReplayOrigin(run_id=state.run_id, seq=seq),
        restored=Restored(
            outputs=outputs,
            order=tuple(k for k in state.completed if k in outputs),
            vars=dict(state.vars),
        ),
    )


def replay(events: Sequence[Event], command: Replay) -> StartRun:
    """Resolve a Replay command against the events of its source run."""
    if command.input is None:
        return fork(events, command.seq, run_id=command.run_id, command_id=command.command_id)
    return fork(
        events,
        command.seq,
        run_id=command.run_id,
        command_id=command.command_id,
        input=command.input,
    )
