"""Starting an attempt of a step: render its config, then what its node type needs.

Inline nodes (transform, condition, set, ...) finish at once; worker steps are scheduled
for dispatch (with a timeout timer); delays, signals, approvals and child runs wait.
"""

from typing import Any

import orjson

from tideflow.core._cel import Scope
from tideflow.core._decider import _agent as agent
from tideflow.core._decider import _attempts as attempts
from tideflow.core._decider import _foreach as foreach
from tideflow.core._decider import _timers as timers
from tideflow.core._decider._decision import Decision
from tideflow.core._definition import NodeSpec
from tideflow.core._durations import parse_duration
from tideflow.core._effects import run_depth
from tideflow.core._errors import DurationError, ExpressionError, InlineNodeError
from tideflow.core._events import (
    ApprovalRequested,
    StepError,
    StepFailed,
    StepRole,
    StepScheduled,
    StepSucceeded,
    TimerKind,
)
from tideflow.core._ids import child_run_id
from tideflow.core._limits import LimitCode, Limits, LimitViolation, check_value, size_violation
from tideflow.core._templates import Rendered, render
from tideflow.core.nodes import Execution, InlineOutcome
from tideflow.core.nodes._approval import APPROVAL_DECISION_GRACE


def schedule(
    d: Decision,
    key: str,
    spec: NodeSpec,
    role: StepRole,
    *,
    parent_step: str | None = None,
    index: int | None = None,
    item: Any = None,
    poll_state: Any = None,
) -> None:
    """Start the next attempt of a step according to its node type (`poll_state`: what
    the previous attempt handed back when it asked to be polled)."""
    previous = d.state.steps.get(key)
    attempt = (previous.attempt if previous else 0) + 1
    node_type = d.context.types.get(spec.type)
    if node_type is None:
        fail_unscheduled(d, key, spec, role, attempt, "UnknownNodeType", spec.type)
        return
    context = d.expressions(item, index)
    scope = Scope.ITEM if index is not None else Scope.RUN
    common: dict[str, Any] = {
        "command_id": d.command_id,
        "at": d.now,
        "step": key,
        "node_id": spec.id,
        "node_type": spec.type,
        "execution": node_type.execution,
        "role": role,
        "attempt": attempt,
        "queue": spec.queue,
        "parent_step": parent_step,
        "index": index,
    }
    try:
        if node_type.evaluate is not None:
            outcome = node_type.evaluate(spec.config, context)
            too_large = (
                size_violation(  # template results: their parts were checked already
                    [outcome.output, outcome.vars], what=f"the output of node {spec.id!r}",
                    max_bytes=d.state.limits.output_bytes,
                )
                if node_type.source == "builtin"
                else plugin_output(outcome, spec.id, d.state.limits)
            )  # fmt: skip
            if isinstance(too_large, LimitViolation):
                fail_unscheduled(d, key, spec, role, attempt, too_large.code, too_large.message)
                return
            if too_large is not None:
                outcome = too_large
            d.emit(StepScheduled(**common, config=spec.config))
            d.emit(
                StepSucceeded(
                    at=d.now, step=key, attempt=attempt, output=outcome.output,
                    vars=outcome.vars, command_id=d.command_id,
                )
            )  # fmt: skip
            attempts.step_succeeded(d, key)
            return
        # A foreach renders only its items now; the child spec is rendered per item.
        source = (
            {"items": spec.config.get("items"), "concurrency": spec.config.get("concurrency", 10)}
            if node_type.execution is Execution.FOREACH
            else spec.config
        )
        rendered = render(
            source, context, scope, defer_secrets=node_type.execution is Execution.DISPATCH
        )
        idempotency_key = (
            render(spec.idempotency_key, context, scope).value if spec.idempotency_key else None
        )
    except (ExpressionError, InlineNodeError) as exc:
        fail_unscheduled(d, key, spec, role, attempt, exc.code, f"node {spec.id!r}: {exc}", common)
        return
    too_large = size_violation(
        rendered.value, what=f"the rendered config of node {spec.id!r}",
        max_bytes=d.state.limits.event_bytes,
    )  # fmt: skip
    if too_large is not None:
        fail_unscheduled(d, key, spec, role, attempt, too_large.code, too_large.message, common)
        return
    schedule_rendered(d, key, spec, rendered=rendered, idempotency_key=idempotency_key,
                      common=common, poll_state=poll_state)  # fmt: skip


def schedule_rendered(
    d: Decision,
    key: str,
    spec: NodeSpec,
    *,
    rendered: Rendered,
    idempotency_key: Any,
    common: dict[str, Any],
    poll_state: Any = None,
) -> None:
    """Emit what starts a non-inline step, once its config has been rendered."""
    attempt: int = common["attempt"]
    execution: Execution = common["execution"]
    if execution is Execution.DISPATCH:
        deadline = d.now + spec.timeout if spec.timeout else None
        # the schedule-to-start timer is an effect of this event (see `_effects`)
        to_start = spec.schedule_to_start_timeout or d.state.limits.schedule_to_start
        d.emit(
            StepScheduled(
                **common, config=rendered.value, secret_paths=rendered.secret_paths,
                timeout=spec.timeout, deadline=deadline,
                idempotency_key=str(idempotency_key) if idempotency_key is not None else None,
                start_by=d.now + to_start, poll_state=poll_state,
            )
        )  # fmt: skip
        if spec.timeout:
            timers.set_timer(d, key, attempt, TimerKind.STEP_TIMEOUT, spec.timeout)
    elif execution is Execution.TIMER:
        schedule_delay(d, key, spec, rendered.value, common)
    elif execution is Execution.SIGNAL:
        schedule_signal(d, key, rendered.value, common)
    elif execution is Execution.APPROVAL:
        schedule_approval(d, key, rendered.value, common)
    elif execution is Execution.CHILD:
        most = d.state.limits.subworkflow_depth
        if run_depth(d.state) + 1 > most:
            fail_unscheduled(
                d, key, spec, StepRole(common["role"]), attempt, LimitCode.SUBWORKFLOW_DEPTH.value,
                f"node {spec.id!r}: subworkflows may nest at most {most} deep "
                f"(this run is {run_depth(d.state)} deep)",
                common,
            )  # fmt: skip
            return
        child = child_run_id(d.state.run_id, key, attempt)
        d.emit(StepScheduled(**common, config=rendered.value, child_run_id=child))
        if spec.timeout:
            timers.set_timer(d, key, attempt, TimerKind.STEP_TIMEOUT, spec.timeout)
    elif execution is Execution.AGENT:
        agent.schedule_agent(d, key, rendered.value, common)
    else:
        foreach.schedule_foreach(d, key, rendered.value, common)


def fail_unscheduled(  # noqa: PLR0917 - all positional for readable call sites
    d: Decision,
    key: str,
    spec: NodeSpec,
    role: StepRole,
    attempt: int,
    error_type: str,
    message: str,
    common: dict[str, Any] | None = None,
) -> None:
    """A step whose config cannot even be evaluated fails for good at once."""
    fields = common or {
        "at": d.now, "step": key, "node_id": spec.id, "node_type": spec.type,
        "execution": Execution.INLINE, "role": role, "attempt": attempt, "queue": spec.queue,
    }  # fmt: skip
    d.emit(StepScheduled(**fields, config=spec.config))
    error = StepError(type=error_type, message=message, retryable=False)
    d.emit(StepFailed(at=d.now, step=key, attempt=attempt, error=error))
    attempts.step_failed(d, key, error)


def schedule_delay(
    d: Decision, key: str, spec: NodeSpec, config: Any, common: dict[str, Any]
) -> None:
    """`delay`: a durable timer for the rendered duration."""
    attempt: int = common["attempt"]
    try:
        duration = parse_duration(str(config["duration"]))
    except DurationError as exc:
        fail_unscheduled(
            d, key, spec, StepRole(common["role"]), attempt, "InvalidDuration", str(exc), common
        )
        return
    d.emit(StepScheduled(**common, config=config))
    timers.set_timer(d, key, attempt, TimerKind.DELAY, duration)


def schedule_signal(d: Decision, key: str, config: Any, common: dict[str, Any]) -> None:
    """`signal`: consume a buffered signal at once, else wait (with a timeout timer)."""
    attempt: int = common["attempt"]
    d.emit(StepScheduled(**common, config=config))
    for signal in d.state.signals:
        if signal.name == config["name"]:
            d.emit(
                StepSucceeded(
                    at=d.now, step=key, attempt=attempt, output=signal.data,
                    consumed_signal=signal.signal_id,
                )
            )  # fmt: skip
            attempts.step_succeeded(d, key)
            return
    timeout = config.get("timeout")
    if isinstance(timeout, str):
        timers.set_timer(d, key, attempt, TimerKind.STEP_TIMEOUT, parse_duration(timeout))


def schedule_approval(d: Decision, key: str, config: Any, common: dict[str, Any]) -> None:
    """`approval`: ask for a decision (with a timeout timer when the node has one)."""
    attempt: int = common["attempt"]
    timeout = config.get("timeout")
    wait = parse_duration(timeout) if isinstance(timeout, str) else None
    d.emit(StepScheduled(**common, config=config))
    d.emit(
        ApprovalRequested(
            at=d.now, step=key, attempt=attempt, config=config,
            deadline=d.now + wait if wait else None,
        )
    )  # fmt: skip
    if wait:  # votes are accepted until the deadline; one in flight lands before the timeout
        timers.set_timer(d, key, attempt, TimerKind.STEP_TIMEOUT, wait + APPROVAL_DECISION_GRACE)


def plugin_output(outcome: InlineOutcome, node: str, limits: Limits) -> Any:
    """A plugin's inline output as the log will hold it, or the limit it breaks.

    Its handler may return anything: NaN, a NUL character (Postgres refuses the whole
    batch), nesting past the JSON depth, a tuple or a datetime (which the log would turn
    into a list or a string, so a fold would not equal the decided state).
    """
    what = f"the output of node {node!r}"
    for value in (outcome.output, outcome.vars):
        violation = check_value(
            value, what=what, max_depth=limits.json_depth, max_bytes=limits.output_bytes
        )
        if violation is not None:
            return violation
    violation = size_violation(
        [outcome.output, outcome.vars], what=what, max_bytes=limits.output_bytes
    )
    if violation is not None:
        return violation
    output, variables = orjson.loads(
        orjson.dumps([outcome.output, outcome.vars], option=orjson.OPT_NON_STR_KEYS)
    )
    return InlineOutcome(output=output, vars=variables)
