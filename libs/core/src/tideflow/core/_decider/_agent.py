"""`agent`: the model/tool loop as steps, decided from the steps alone.

An agent step (role flow, execution `agent`) owns sub-steps (role item, `parent_step`
the agent): model calls `ask.turn[1]`, `ask.turn[2]`, ... dispatched to workers as node
type `agent`, and the tool calls each turn asked for, `ask.turn[1].call[0]`, ... Where the
loop stands is read from those steps, never kept elsewhere: the next request is the
prompt plus every finished turn and tool result, rebuilt the same way on every decision
(and after a crash), so a finished call is never made again. A tool call that fails, or
names no tool, or whose arguments break its `inputSchema`, is answered to the model as an
error instead of failing the agent; a model call that fails for good fails it.

Budgets: `maxIterations` model calls, `tokenBudget` tokens over all calls (checked after
each call), `timeBudget` wall time (a durable timer on the agent step).
"""

import json
from typing import Any

from tideflow.core._decider import _attempts as attempts
from tideflow.core._decider import _steps as steps
from tideflow.core._decider import _timers as timers
from tideflow.core._decider._decision import Decision
from tideflow.core._durations import parse_duration
from tideflow.core._errors import DurationError
from tideflow.core._events import (
    StepError,
    StepFailed,
    StepRole,
    StepScheduled,
    StepSucceeded,
    TimerKind,
)
from tideflow.core._ids import agent_call_key, agent_turn_key, agent_turn_of
from tideflow.core._json_schema import SafeValidator
from tideflow.core._limits import check_value, size_violation
from tideflow.core._state import StepState, StepStatus
from tideflow.core._templates import Rendered
from tideflow.core.nodes import Execution
from tideflow.core.nodes._agent import TURN_NODE_TYPE, tool_spec, turn_spec

MAX_ITERATIONS = "AGENT_MAX_ITERATIONS"
TOKEN_BUDGET = "AGENT_TOKEN_BUDGET"  # noqa: S105 - an error type
TIME_BUDGET = "AGENT_TIME_BUDGET"
OUTPUT_INVALID = "AGENT_OUTPUT_INVALID"
MODEL_FAILED = "AGENT_MODEL_FAILED"


def schedule_agent(d: Decision, key: str, config: Any, common: dict[str, Any]) -> None:
    """Record the agent with its rendered config, arm its time budget, start turn 1."""
    d.emit(StepScheduled(**common, config=config))
    budget = config.get("timeBudget")
    if budget is not None:
        try:
            wait = parse_duration(str(budget))
        except DurationError as e:
            _fail(d, key, "InvalidDuration", f"timeBudget: {e}")
            return
        timers.set_timer(d, key, common["attempt"], TimerKind.STEP_TIMEOUT, wait)
    advance(d, key)


def is_sub_step(d: Decision, step: StepState) -> bool:
    """Whether `step` is a model or tool call of an agent."""
    if step.role is not StepRole.ITEM or step.parent_step is None:
        return False
    parent = d.state.steps.get(step.parent_step)
    return parent is not None and parent.execution is Execution.AGENT


def advance(d: Decision, key: str) -> None:
    """Start whatever the agent's finished steps call for next (not re-entered)."""
    if key in d.pumping:
        return
    d.pumping.add(key)
    try:
        _advance(d, key)
    finally:
        d.pumping.discard(key)


def _advance(d: Decision, key: str) -> None:
    parent = d.state.steps[key]
    if parent.status.terminal:
        return
    config = parent.config
    turn = _turns(d, key)
    if turn == 0:
        _start_turn(d, key, 1)
        return
    model = d.state.steps[agent_turn_key(key, turn)]
    if model.status is not StepStatus.SUCCEEDED:
        return  # running, retrying, or failed (which fails the agent: `sub_step_failed`)
    used = _usage(d, key, turn)
    budget = config.get("tokenBudget")
    if budget is not None and used["totalTokens"] > int(budget):
        _fail(d, key, TOKEN_BUDGET,
              f"agent {key!r} used {used['totalTokens']:,} tokens, over its tokenBudget "
              f"of {int(budget):,}")  # fmt: skip
        return
    calls = _calls(model.output)
    if not calls:
        _answered(d, key, turn, model)
    elif _calls_finished(d, key, turn, calls):
        _next_turn(d, key, turn)


def _calls_finished(d: Decision, key: str, turn: int, calls: list[dict[str, Any]]) -> bool:
    """Start the turn's tool calls not started yet; True once every one has ended."""
    config = d.state.steps[key].config
    finished = True
    for index, call in enumerate(calls):
        call_key = agent_call_key(key, turn, index)
        if _problem(config, call) is not None:
            continue  # answered to the model as an error; no step
        if call_key not in d.state.steps:
            _start_call(d, key, turn, index, call)
        step = d.state.steps.get(call_key)
        if step is None or not step.status.terminal:
            finished = False
    return finished


def _next_turn(d: Decision, key: str, turn: int) -> None:
    most = int(d.state.steps[key].config.get("maxIterations", 10))
    if turn >= most:
        message = f"agent {key!r} made {turn} model calls (maxIterations) and no final answer"
        _fail(d, key, MAX_ITERATIONS, message)
        return
    _start_turn(d, key, turn + 1)


def _answered(d: Decision, key: str, turn: int, model: StepState) -> None:
    """The model answered without tool calls: the agent's output, if the answer is valid."""
    config = d.state.steps[key].config
    text = str((model.output or {}).get("text") or "")
    output: dict[str, Any] = {"text": text}
    schema = config.get("outputSchema")
    if schema is not None:
        value, errors = check_answer(text, schema)
        if errors:
            if turn >= int(config.get("maxIterations", 10)):
                _fail(d, key, OUTPUT_INVALID,
                      f"agent {key!r}: the final answer does not satisfy outputSchema: "
                      + "; ".join(errors))  # fmt: skip
                return
            _start_turn(d, key, turn + 1)  # asked again with the errors (see `_messages`)
            return
        output["json"] = value
    output["toolCalls"] = [
        {"name": call.get("name"), "arguments": call.get("arguments"), "result": result}
        for t in range(1, turn + 1)
        for call, result in _results(d, key, t)
    ]
    output["usage"] = _usage(d, key, turn)
    output["iterations"] = turn
    output["model"] = (model.output or {}).get("model")
    limits = d.state.limits
    violation = check_value(
        output, what=f"the output of agent {key!r}", max_depth=limits.json_depth,
        max_bytes=limits.output_bytes,
    )  # fmt: skip
    if violation is not None:
        _fail(d, key, violation.code.value, violation.message)
        return
    attempt = d.state.steps[key].attempt
    d.emit(StepSucceeded(at=d.now, step=key, attempt=attempt, output=output))
    attempts.step_succeeded(d, key)


# ---- starting model and tool calls ----------------------------------------------------------


def _start_turn(d: Decision, key: str, turn: int, poll_state: Any = None) -> None:
    parent = d.state.steps[key]
    spec = turn_spec(d.graph.nodes[parent.node_id])
    turn_key = agent_turn_key(key, turn)
    previous = d.state.steps.get(turn_key)
    attempt = (previous.attempt if previous else 0) + 1
    request = _request(d, key, turn)
    too_large = size_violation(
        request, what=f"the request of agent {key!r} turn {turn}",
        max_bytes=d.state.limits.event_bytes,
    )  # fmt: skip
    if too_large is not None:
        _fail(d, key, too_large.code, too_large.message)
        return
    common: dict[str, Any] = {
        "command_id": d.command_id, "at": d.now, "step": turn_key, "node_id": spec.id,
        "node_type": TURN_NODE_TYPE, "execution": Execution.DISPATCH, "role": StepRole.ITEM,
        "attempt": attempt, "queue": spec.queue, "parent_step": key, "index": turn,
    }  # fmt: skip
    steps.schedule_rendered(d, turn_key, spec, rendered=Rendered(request), idempotency_key=None,
                            common=common, poll_state=poll_state)  # fmt: skip


def _start_call(d: Decision, key: str, turn: int, index: int, call: dict[str, Any]) -> None:
    spec = _call_spec(d, key, call)
    steps.schedule(d, agent_call_key(key, turn, index), spec, StepRole.ITEM, parent_step=key,
                   index=index, item=call.get("arguments"))  # fmt: skip


def _call_spec(d: Decision, key: str, call: dict[str, Any]) -> Any:
    parent = d.state.steps[key]
    tool = _tool(parent.config, call)
    arguments = call.get("arguments")
    names = sorted(arguments) if isinstance(arguments, dict) else []
    return tool_spec(d.graph.nodes[parent.node_id], tool or {}, names)


def sub_spec(d: Decision, step: StepState) -> Any:
    """The node spec a model or tool call step runs (retry policy, timeout, queue)."""
    parent = d.state.steps[str(step.parent_step)]
    if step.node_type == TURN_NODE_TYPE and step.step == agent_turn_key(
        parent.step, step.index or 0
    ):
        return turn_spec(d.graph.nodes[parent.node_id])
    return _call_spec(d, parent.step, _calls_of_turn(d, parent.step, step)[step.index or 0])


def reschedule(d: Decision, step: StepState, poll_state: Any = None) -> None:
    """The retry (or poll) of a model or tool call step is due."""
    parent = str(step.parent_step)
    if step.step == agent_turn_key(parent, step.index or 0):
        _start_turn(d, parent, step.index or 0, poll_state)
        return
    call = _calls_of_turn(d, parent, step)[step.index or 0]
    steps.schedule(d, step.step, sub_spec(d, step), StepRole.ITEM, parent_step=parent,
                   index=step.index, item=call.get("arguments"), poll_state=poll_state)  # fmt: skip


def sub_step_failed(d: Decision, step: StepState, error: StepError) -> None:
    """A model call that failed for good fails the agent; a tool call's error goes back
    to the model."""
    parent = d.state.steps[str(step.parent_step)]
    if parent.status.terminal:
        return
    if step.step == agent_turn_key(parent.step, step.index or 0):
        _fail(d, parent.step, error.type,
              f"model call {step.index} of agent {parent.step!r}: {error.message}")  # fmt: skip
        return
    advance(d, parent.step)


def timer_fired(d: Decision, step: StepState, kind: TimerKind) -> bool:
    """Act on a timer of an agent or of one of its calls; False for anyone else's."""
    if step.execution is Execution.AGENT and kind is TimerKind.STEP_TIMEOUT:
        budget = step.config.get("timeBudget")
        message = f"agent {step.step!r} ran out of its timeBudget ({budget})"
        _fail(d, step.step, TIME_BUDGET, message)
        return True
    if kind in {TimerKind.RETRY, TimerKind.POLL} and is_sub_step(d, step):
        if step.status is StepStatus.BACKOFF:
            reschedule(d, step, step.poll_state if kind is TimerKind.POLL else None)
        return True
    return False


def _fail(d: Decision, key: str, error_type: str, message: str) -> None:
    attempts.stop_steps(d, message, only_parent=key)
    parent = d.state.steps[key]
    error = StepError(type=error_type, message=message, retryable=False)
    d.emit(StepFailed(at=d.now, step=key, attempt=parent.attempt, error=error))
    attempts.step_failed(d, key, error)


# ---- reading the loop from the steps --------------------------------------------------------


def _turns(d: Decision, key: str) -> int:
    turn = 0
    while agent_turn_key(key, turn + 1) in d.state.steps:
        turn += 1
    return turn


def _calls(output: Any) -> list[dict[str, Any]]:
    calls = output.get("toolCalls") if isinstance(output, dict) else None
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def _calls_of_turn(d: Decision, key: str, step: StepState) -> list[dict[str, Any]]:
    model = d.state.steps[agent_turn_key(key, agent_turn_of(step.step))]
    return _calls(model.output)


def _tool(config: dict[str, Any], call: dict[str, Any]) -> dict[str, Any] | None:
    return next((t for t in config.get("tools") or [] if t.get("name") == call.get("name")), None)


def _problem(config: dict[str, Any], call: dict[str, Any]) -> str | None:
    """Why a tool call cannot run (answered to the model), or None."""
    if call.get("argumentsError"):
        return f"the arguments are not JSON: {call['argumentsError']}"
    tool = _tool(config, call)
    if tool is None:
        known = ", ".join(str(t.get("name")) for t in config.get("tools") or []) or "none"
        return f"there is no tool named {call.get('name')!r} (tools: {known})"
    schema = tool.get("inputSchema") or {"type": "object"}
    errors = sorted(SafeValidator(schema).iter_errors(call.get("arguments")), key=str)
    if errors:
        return "the arguments do not satisfy the tool's inputSchema: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5]
        )
    return None


def _results(d: Decision, key: str, turn: int) -> list[tuple[dict[str, Any], Any]]:
    """Each tool call of a turn with what it returned (or its error)."""
    config = d.state.steps[key].config
    model = d.state.steps[agent_turn_key(key, turn)]
    out: list[tuple[dict[str, Any], Any]] = []
    for index, call in enumerate(_calls(model.output)):
        problem = _problem(config, call)
        step = d.state.steps.get(agent_call_key(key, turn, index))
        if problem is not None:
            result: Any = {"error": {"type": "InvalidToolCall", "message": problem}}
        elif step is not None and step.status is StepStatus.SUCCEEDED:
            result = step.output
        elif step is not None and step.error is not None:
            result = {"error": {"type": step.error.type, "message": step.error.message}}
        else:
            result = {"error": {"type": "Unfinished", "message": "the call did not finish"}}
        out.append((call, result))
    return out


def _usage(d: Decision, key: str, turn: int) -> dict[str, int]:
    total = {"promptTokens": 0, "completionTokens": 0, "totalTokens": 0}
    for t in range(1, turn + 1):
        step = d.state.steps.get(agent_turn_key(key, t))
        usage = (step.output or {}).get("usage") if step is not None else None
        if isinstance(usage, dict):
            for name in total:
                value = usage.get(name)
                total[name] += value if isinstance(value, int) else 0
    return total


def _request(d: Decision, key: str, turn: int) -> dict[str, Any]:
    """What model call `turn` sends: the same for every attempt and after any crash."""
    config = d.state.steps[key].config
    request = {
        name: config[name]
        for name in ("model", "apiBase", "apiKeySecret", "temperature", "maxTokens")
        if config.get(name) is not None
    }
    request["messages"] = _messages(d, key, turn)
    tools = [
        {"type": "function", "function": {"name": t["name"], "description": t["description"],
                                          "parameters": t.get("inputSchema") or {"type": "object"}}}
        for t in config.get("tools") or []
    ]  # fmt: skip
    if tools:
        request["tools"] = tools
    return request


def _messages(d: Decision, key: str, turn: int) -> list[dict[str, Any]]:
    config = d.state.steps[key].config
    messages: list[dict[str, Any]] = []
    if config.get("system"):
        messages.append({"role": "system", "content": str(config["system"])})
    schema = config.get("outputSchema")
    if schema is not None:
        messages.append({"role": "system", "content": (
            "When you give your final answer (without calling a tool), answer with a single "
            "JSON value and nothing else. It must validate against this JSON Schema:\n"
            + json.dumps(schema, sort_keys=True))})  # fmt: skip
    messages.append({"role": "user", "content": str(config.get("prompt", ""))})
    for t in range(1, turn):
        output = d.state.steps[agent_turn_key(key, t)].output or {}
        message = output.get("message") or {"role": "assistant", "content": output.get("text")}
        messages.append(message)
        results = _results(d, key, t)
        for index, (call, result) in enumerate(results):
            content = json.dumps(result, sort_keys=True, default=str)
            messages.append(
                {"role": "tool", "tool_call_id": str(call.get("id") or index), "content": content}
            )
        if not results and schema is not None:
            _, errors = check_answer(str(output.get("text") or ""), schema)
            listed = "\n".join(f"- {e}" for e in errors)
            messages.append({"role": "user", "content": (
                f"Your answer is not valid:\n{listed}\nReply again with only the corrected "
                "JSON value, satisfying the schema.")})  # fmt: skip
    return messages


def check_answer(text: str, schema: dict[str, Any]) -> tuple[Any, list[str]]:
    """The JSON value of a final answer (bare or in a ``` fence) and its schema errors."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        value = json.loads(body)
    except ValueError as e:
        return None, [f"the answer is not JSON: {e}"]
    errors = sorted(SafeValidator(schema).iter_errors(value), key=str)
    return value, [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]
    ]
