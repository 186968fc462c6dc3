"""Starting a run: check the definition and the input, render `spec.vars`, then advance.

A definition or input that does not hold fails the run at once (RunStarted + RunFailed),
so the problem is recorded in the run's history instead of being lost in a log.
"""

from typing import Any

from tideflow.core._cel import Context, Scope
from tideflow.core._commands import StartRun
from tideflow.core._decider import _flow as flow
from tideflow.core._decider._decision import Decision
from tideflow.core._errors import ExpressionError
from tideflow.core._events import RunError, RunFailed, RunStarted
from tideflow.core._limits import DEFAULT_LIMITS, Limits, check_value, size_violation
from tideflow.core._templates import render
from tideflow.core._validation import validate_input


def start(d: Decision, command: StartRun) -> None:
    """Record RunStarted with the pinned definition, then start the first nodes."""
    definition = command.definition
    limits = command.limits or DEFAULT_LIMITS
    run_input = command.input
    problems, wire = d.context.pinned.start_form()
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
        else:
            too_large = size_violation(initial_vars, what="spec.vars", max_bytes=limits.event_bytes)
            if too_large is not None:
                initial_vars = {}
                error = RunError(type=too_large.code, message=too_large.message)
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
    flow.advance(d)


def _unstorable_input(run_input: Any, limits: Limits) -> RunError | None:
    """Why a run input may not enter the log (too deep, too large, NaN, NUL), if it may not.

    The gateway refuses such inputs with 413/422; this covers every other producer of
    StartRun (child runs, replays, foreign producers on the bus).
    """
    violation = check_value(
        run_input, what="the run input", max_depth=limits.json_depth, max_bytes=limits.input_bytes
    )
    return None if violation is None else RunError(type=violation.code, message=violation.message)
