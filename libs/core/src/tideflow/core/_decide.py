"""`decide(state, command, now) -> events`: the pure decider of the run state machine.

A command that was already applied, that arrives for a finished run, or that refers to
an attempt which is no longer current decides nothing: that is what makes at-least-once
delivery safe. Expected outcomes (a failed step, a bad expression) are events, never
exceptions.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tideflow.core._cel import Context, Scope
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
from tideflow.core._definition import WorkflowDefinition
from tideflow.core._errors import ExpressionError, Problem
from tideflow.core._events import (
    ApprovalDecided,
    Event,
    RunCancelled,
    RunError,
    RunFailed,
    RunStarted,
    SignalReceived,
    StepError,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    TimerFired,
    TimerKind,
)
from tideflow.core._limits import DEFAULT_LIMITS, Limits, check_value
from tideflow.core._scheduling import Decision
from tideflow.core._state import RunState, RunStatus, StepStatus
from tideflow.core._templates import render
from tideflow.core._validation import validate_definition, validate_input
from tideflow.core.nodes import Execution

_RESULT_STATUSES = frozenset({StepStatus.SCHEDULED, StepStatus.RUNNING, StepStatus.WAITING})


def decide(state: RunState, command: RunCommand, now: datetime) -> list[Event]:
    """The events a command causes in a run. Pure and deterministic."""
    if command.command_id in state.applied:
        return []
    if isinstance(command, StartRun):
        if state.status is not RunStatus.PENDING:
            return []
        decision = Decision(state, now, command.command_id)
        _start(decision, command)
        return decision.finish()
    if state.status is RunStatus.PENDING or state.status.terminal or command.run_id != state.run_id:
        return []
    decision = Decision(state, now, command.command_id)
    _HANDLERS[type(command)](decision, command)
    return decision.finish()


def _accepted(d: Decision, command: StepAccepted) -> None:
    step = d.state.steps.get(command.step)
    if step and step.attempt == command.attempt and step.status is StepStatus.SCHEDULED:
        d.emit(
            StepStarted(at=d.now, step=command.step, attempt=command.attempt, worker=command.worker)
        )


def _start(d: Decision, command: StartRun) -> None:
    definition = command.definition
    limits = command.limits or DEFAULT_LIMITS
    run_input = command.input
    problems, wire = _prepare(definition)
    error = _unstorable_input(run_input, limits)
    if error is not None:
        run_input = None  # what cannot be stored is not stored; the run fails with why
    problems = problems or tuple(validate_input(definition, run_input))
    initial_vars: dict[str, object] = {}
    if error is None and problems:
        error = RunError(
            type="InvalidInput" if problems[0].code == "INPUT_INVALID" else "InvalidDefinition",
            message="; ".join(str(p) for p in problems),
        )
    elif error is None:
        run = {"id": command.run_id, "workflow": command.workflow, "version": command.version}
        context = Context({"input": run_input, "vars": {}, "nodes": {}, "run": run}, None, limits)
        try:
            initial_vars = render(dict(definition.spec.vars), context, Scope.RUN).value
        except ExpressionError as exc:
            error = RunError(type=exc.code, message=f"spec.vars: {exc}")
    if command.restored and command.restored.vars is not None:
        initial_vars = {**initial_vars, **command.restored.vars}
    d.emit(
        RunStarted(
            at=d.now, run_id=command.run_id, workflow=command.workflow, version=command.version,
            definition=wire, input=run_input, vars=initial_vars,
            parent=command.parent, replay_of=command.replay_of, restored=command.restored,
            limits=command.limits,
        )
    )  # fmt: skip
    if error is not None:
        d.emit(RunFailed(at=d.now, error=error))
        return
    d.advance()


def _unstorable_input(run_input: Any, limits: Limits) -> RunError | None:
    """Why a run input may not enter the log (too deep, too large, NaN, NUL), if it may not.

    The gateway refuses such inputs with 413/422; this covers every other producer of
    StartRun (child runs, replays, foreign producers on the bus).
    """
    violation = check_value(
        run_input, what="the run input", max_depth=limits.json_depth, max_bytes=limits.input_bytes
    )
    return None if violation is None else RunError(type=violation.code, message=violation.message)


_PREPARED_LIMIT = 256
_prepared: dict[int, tuple[WorkflowDefinition, tuple[Problem, ...], dict[str, Any]]] = {}


def _prepare(definition: WorkflowDefinition) -> tuple[tuple[Problem, ...], dict[str, Any]]:
    """The problems and the wire form of a definition, computed once per definition object.

    Adapters keep the parsed definitions of published versions, so the same object starts
    many runs; validating and serialising a large graph is the most expensive part of a
    start. The entry holds the definition itself, so its id cannot be reused while the
    entry lives. The wire form is shared by the RunStarted events of those runs, which
    nobody modifies (events are immutable).
    """
    hit = _prepared.get(id(definition))
    if hit is not None and hit[0] is definition:
        return hit[1], hit[2]
    problems = tuple(validate_definition(definition))
    wire = definition.to_wire()
    if len(_prepared) >= _PREPARED_LIMIT:
        _prepared.pop(next(iter(_prepared)), None)
    _prepared[id(definition)] = (definition, problems, wire)
    return problems, wire


def _step_result(d: Decision, command: StepResult) -> None:
    step = d.state.steps.get(command.step)
    if step is None or step.attempt != command.attempt or step.status not in _RESULT_STATUSES:
        return
    if step.execution not in {Execution.DISPATCH, Execution.CHILD}:
        return
    if command.ok:
        d.emit(
            StepSucceeded(
                at=d.now, step=command.step, attempt=command.attempt, output=command.output,
                command_id=d.command_id,
            )
        )  # fmt: skip
        d.step_succeeded(command.step)
    else:
        error = command.error or StepError(type="Error", message="step failed")
        if step.execution is Execution.CHILD:
            error = error.model_copy(update={"retryable": False})
        d.attempt_failed(command.step, error)
    d.advance()


def _timer(d: Decision, command: FireTimer) -> None:
    timer = d.state.timers.get(command.timer_id)
    if timer is None:
        return
    d.emit(TimerFired(at=d.now, timer_id=timer.timer_id))
    step = d.state.steps[timer.step]
    if step.attempt != timer.attempt or step.status.terminal:
        return
    if timer.kind is TimerKind.RETRY and step.status is StepStatus.BACKOFF:
        d.schedule(
            step.step,
            d.spec_of(step),
            step.role,
            parent_step=step.parent_step,
            index=step.index,
            item=_item_of(d, step.parent_step, step.index),
        )
    elif timer.kind is TimerKind.DELAY:
        d.emit(StepSucceeded(at=d.now, step=step.step, attempt=step.attempt))
        d.step_succeeded(step.step)
    elif timer.kind is TimerKind.STEP_TIMEOUT:
        d.emit(StepTimedOut(at=d.now, step=step.step, attempt=step.attempt))
        retryable = step.execution is Execution.DISPATCH
        message = f"step {step.step!r} attempt {step.attempt} timed out"
        d.attempt_failed(step.step, StepError(type="Timeout", message=message, retryable=retryable))
    d.advance()


def _item_of(d: Decision, parent: str | None, index: int | None) -> object:
    if parent is None or index is None:
        return None
    items = d.state.steps[parent].config["items"]
    return items[index]


def _signal(d: Decision, command: Signal) -> None:
    d.emit(
        SignalReceived(at=d.now, signal_id=command.command_id, name=command.name, data=command.data)
    )
    for step in list(d.state.steps.values()):
        if (
            step.execution is Execution.SIGNAL
            and step.status is StepStatus.WAITING
            and step.config.get("name") == command.name
        ):
            d.emit(
                StepSucceeded(
                    at=d.now, step=step.step, attempt=step.attempt, output=command.data,
                    consumed_signal=command.command_id,
                )
            )  # fmt: skip
            d.step_succeeded(step.step)
            break
    d.advance()


def _approval(d: Decision, command: ApprovalDecision) -> None:
    step = d.state.steps.get(command.step)
    if step is None or step.execution is not Execution.APPROVAL:
        return
    if step.status is not StepStatus.WAITING:
        return
    d.emit(
        ApprovalDecided(
            at=d.now, step=step.step, approved=command.approved, decided_by=command.decided_by,
            comment=command.comment,
        )
    )  # fmt: skip
    if command.approved:
        output = {"approved": True, "decidedBy": command.decided_by, "comment": command.comment}
        d.emit(StepSucceeded(at=d.now, step=step.step, attempt=step.attempt, output=output))
        d.step_succeeded(step.step)
    else:
        by = f" by {command.decided_by}" if command.decided_by else ""
        error = StepError(
            type="ApprovalRejected",
            message=f"approval {step.step!r} rejected{by}: {command.comment or 'no comment'}",
            retryable=False,
        )
        d.attempt_failed(step.step, error)
    d.advance()


def _cancel(d: Decision, command: Cancel) -> None:
    if d.state.unwinding is not None:
        return
    reason = command.reason or "cancelled"
    d.stop_steps(f"run cancelled: {reason}")
    order_exists = any(
        d.graph.nodes[d.state.steps[k].node_id].compensate for k in d.state.completed
    )
    if order_exists:
        d.unwind(RunStatus.CANCELLED, RunError(type="Cancelled", message=reason))
    else:
        d.emit(RunCancelled(at=d.now, reason=command.reason, by=command.by))


_HANDLERS: dict[type, Callable[[Decision, Any], None]] = {
    StepResult: _step_result,
    StepAccepted: _accepted,
    FireTimer: _timer,
    Signal: _signal,
    ApprovalDecision: _approval,
    Cancel: _cancel,
}
