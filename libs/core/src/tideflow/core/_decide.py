"""`decide(state, command, now, context) -> Decided(events, state)`: the pure decider.

A command that was already applied, that arrives for a finished run, or that refers to
an attempt which is no longer current decides nothing: that is what makes at-least-once
delivery safe. A cancel, fail or signal that arrives before the run's StartRun is not
dropped (see `_early`). Expected outcomes (a failed step, a bad expression) are events, never
exceptions.

`decide` has no side effects besides filling the memos of the `RunContext` it is given
(see `_context`): the state it returns is the state after its events, so callers keep
it instead of folding the events again.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tideflow.core._commands import (
    ApprovalDecision,
    Cancel,
    FireTimer,
    RunCommand,
    Signal,
    StartRun,
    StepAccepted,
    StepResult,
)
from tideflow.core._context import RunContext
from tideflow.core._decider import _attempts, _early, _saga, _start, _timers, _waits
from tideflow.core._decider._decision import Decided, Decision
from tideflow.core._state import RunState, RunStatus
from tideflow.core.nodes import BUILTIN_NODE_TYPES


def decide(
    state: RunState, command: RunCommand, now: datetime, context: RunContext | None = None
) -> Decided:
    """The events a command causes in a run, and the state after them.

    Pure and deterministic. `context` is the run's (see `RunContext`); without one a
    context is derived from the command or the state, which costs a graph build.
    """
    if command.command_id in state.applied:
        return Decided((), state)
    if isinstance(command, StartRun):
        return _start_run(state, command, now, context)
    if state.status is RunStatus.PENDING:
        return _early.before_start(state, command, now)
    if state.status.terminal or command.run_id != state.run_id:
        return Decided((), state)
    if context is None or context.definition is not state.definition:
        types = context.types if context is not None else BUILTIN_NODE_TYPES
        context = RunContext.for_state(state, types)
        if context is None:
            return Decided((), state)
    decision = Decision(state, now, command.command_id, context)
    _HANDLERS[type(command)](decision, command)
    return decision.finish()


def _start_run(
    state: RunState, command: StartRun, now: datetime, context: RunContext | None
) -> Decided:
    if state.status is not RunStatus.PENDING:
        return Decided((), state)
    if context is None or context.definition is not command.definition:
        types = context.types if context is not None else BUILTIN_NODE_TYPES
        context = RunContext.of(command.definition, types)
    decision = Decision(state, now, command.command_id, context)
    _start.start(decision, command)
    return decision.finish()


_HANDLERS: dict[type, Callable[[Decision, Any], None]] = {
    StepResult: _attempts.result,
    StepAccepted: _attempts.accepted,
    FireTimer: _timers.fire,
    Signal: _waits.signal,
    ApprovalDecision: _waits.approval,
    Cancel: _saga.cancel,
}
