"""The `agent` loop in the pure core: turns and tool calls as steps, budgets, recovery."""

from datetime import timedelta
from typing import Any

import pytest

from tideflow.core import RunStatus, StepStatus, validate_definition
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit

TOOLS = [
    {"name": "look", "description": "look a word up", "task": "lookup",
     "inputSchema": {"type": "object", "required": ["q"], "properties": {"q": {"type": "string"}}}},
    {"name": "sub", "description": "run a workflow", "workflow": "child-flow"},
]  # fmt: skip


def agent(**config: Any) -> dict[str, Any]:
    base = {"model": "openai/m", "apiBase": "http://llm", "system": "be brief",
            "prompt": "answer {{ input.q }}", "tools": TOOLS}  # fmt: skip
    return {
        "metadata": {"name": "t"},
        "spec": {
            "nodes": [
                {
                    "id": "a",
                    "type": "agent",
                    "config": base | config,
                    "retry": {"maxAttempts": 2, "initialInterval": "1s"},
                }
            ]
        },
    }


def turn(*calls: dict[str, Any], text: str = "", tokens: int = 10) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": str(c.get("arguments"))}}
            for c in calls
        ]  # fmt: skip
    return {
        "text": text,
        "message": message,
        "toolCalls": list(calls),
        "model": "m",
        "usage": {"promptTokens": tokens - 2, "completionTokens": 2, "totalTokens": tokens},
    }


def started(config: dict[str, Any] | None = None, q: str = "x") -> LocalRun:
    run = LocalRun(agent(**(config or {})))
    run.start({"q": q})
    return run


def request_of(run: LocalRun, step: str) -> dict[str, Any]:
    config: dict[str, Any] = run.state.steps[step].config
    return config


def test_the_first_turn_sends_system_prompt_and_tools() -> None:
    run = started()
    assert [s.step for s in run.tasks()] == ["a.turn[1]"]
    request = request_of(run, "a.turn[1]")
    assert request["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "answer x"},
    ]
    assert request["model"] == "openai/m"
    assert request["apiBase"] == "http://llm"
    assert [t["function"]["name"] for t in request["tools"]] == ["look", "sub"]
    assert run.state.steps["a"].status is StepStatus.RUNNING


def test_tool_calls_run_as_steps_and_their_results_go_back_in_the_next_request() -> None:
    run = started()
    run.complete("a.turn[1]", turn({"id": "c1", "name": "look", "arguments": {"q": "x"}},
                                   {"id": "c2", "name": "sub", "arguments": {"n": 1}}))  # fmt: skip
    look = run.state.steps["a.turn[1].call[0]"]
    sub = run.state.steps["a.turn[1].call[1]"]
    assert (look.node_type, look.config) == ("function", {"name": "lookup", "input": {"q": "x"}})
    assert sub.node_type == "subworkflow"
    assert sub.child_run_id is not None  # a workflow tool is a child run
    assert sub.config == {"workflow": "child-flow", "input": {"n": 1}}
    run.complete("a.turn[1].call[0]", {"meaning": 42})
    assert "a.turn[2]" not in run.state.steps  # waits for every call of the turn
    run.complete("a.turn[1].call[1]", "child output")
    messages = request_of(run, "a.turn[2]")["messages"]
    assert messages[2]["tool_calls"][0]["id"] == "c1"
    assert messages[3:] == [
        {"role": "tool", "tool_call_id": "c1", "content": '{"meaning": 42}'},
        {"role": "tool", "tool_call_id": "c2", "content": '"child output"'},
    ]
    run.complete("a.turn[2]", turn(text="42", tokens=5))
    assert run.state.status is RunStatus.SUCCEEDED
    output = run.state.steps["a"].output
    assert output["text"] == "42"
    assert output["toolCalls"] == [
        {"name": "look", "arguments": {"q": "x"}, "result": {"meaning": 42}},
        {"name": "sub", "arguments": {"n": 1}, "result": "child output"},
    ]
    assert output["usage"] == {"promptTokens": 11, "completionTokens": 4, "totalTokens": 15}
    assert output["iterations"] == 2


def test_a_bad_tool_call_or_a_failed_tool_is_answered_to_the_model() -> None:
    run = started()
    run.complete(
        "a.turn[1]",
        turn(
            {"id": "c1", "name": "nope", "arguments": {}},
            {"id": "c2", "name": "look", "arguments": {"q": 3}},
            {"id": "c3", "name": "look", "arguments": {"q": "y"}},
        ),
    )
    assert "a.turn[1].call[0]" not in run.state.steps
    assert "a.turn[1].call[1]" not in run.state.steps
    run.fail("a.turn[1].call[2]", "KeyError", "no y", retryable=False)
    tool_messages = [m for m in request_of(run, "a.turn[2]")["messages"] if m["role"] == "tool"]
    assert "there is no tool named 'nope' (tools: look, sub)" in tool_messages[0]["content"]
    assert "do not satisfy the tool's inputSchema" in tool_messages[1]["content"]
    assert '"type": "KeyError"' in tool_messages[2]["content"]
    assert run.state.status is RunStatus.RUNNING


def test_a_model_call_is_retried_with_the_same_request_then_fails_the_agent() -> None:
    run = started()
    first = request_of(run, "a.turn[1]")
    run.fail("a.turn[1]", "LlmRateLimited")
    run.advance(timedelta(seconds=1))
    assert run.state.steps["a.turn[1]"].attempt == 2
    assert request_of(run, "a.turn[1]") == first
    run.fail("a.turn[1]", "LlmRateLimited")
    assert run.state.status is RunStatus.FAILED
    error = run.state.steps["a"].error
    assert error is not None
    assert error.type == "LlmRateLimited"


@pytest.mark.parametrize(
    ("config", "moves", "code"),
    [({"maxIterations": 1}, 1, "AGENT_MAX_ITERATIONS"),
     ({"tokenBudget": 15}, 2, "AGENT_TOKEN_BUDGET")],
)  # fmt: skip
def test_budgets_fail_the_agent(config: dict[str, Any], moves: int, code: str) -> None:
    run = started(config)
    for n in range(1, moves + 1):
        run.complete(f"a.turn[{n}]", turn({"id": f"c{n}", "name": "look", "arguments": {"q": "x"}}))
        if f"a.turn[{n}].call[0]" in run.state.steps and run.state.status is RunStatus.RUNNING:
            run.complete(f"a.turn[{n}].call[0]", "r")
    assert run.state.status is RunStatus.FAILED
    error = run.state.steps["a"].error
    assert error is not None
    assert error.type == code


def test_the_time_budget_stops_running_calls() -> None:
    run = started({"timeBudget": "30s"})
    run.complete("a.turn[1]", turn({"id": "c1", "name": "look", "arguments": {"q": "x"}}))
    run.advance(timedelta(seconds=30))
    assert run.state.status is RunStatus.FAILED
    assert run.state.steps["a.turn[1].call[0]"].status is StepStatus.CANCELLED
    error = run.state.steps["a"].error
    assert error is not None
    assert error.type == "AGENT_TIME_BUDGET"


def test_an_answer_against_the_output_schema_is_asked_again() -> None:
    schema = {"type": "object", "required": ["n"]}
    run = started({"outputSchema": schema})
    run.complete("a.turn[1]", turn(text="no json"))
    repair = request_of(run, "a.turn[2]")["messages"][-1]
    assert repair["role"] == "user"
    assert "not valid" in repair["content"]
    run.complete("a.turn[2]", turn(text='```json\n{"n": 4}\n```'))
    assert run.state.status is RunStatus.SUCCEEDED
    assert run.state.steps["a"].output["json"] == {"n": 4}


def test_cancelling_the_run_cancels_the_calls() -> None:
    run = started()
    run.complete("a.turn[1]", turn({"id": "c1", "name": "look", "arguments": {"q": "x"}}))
    run.cancel("stop")
    assert run.state.status is RunStatus.CANCELLED
    assert run.state.steps["a.turn[1].call[0]"].status is StepStatus.CANCELLED


def test_the_config_is_validated() -> None:
    bad = agent(tools=[{"name": "x y", "description": "d", "task": "t", "workflow": "w"}],
                maxIterations=0)  # fmt: skip
    problems = validate_definition(bad)
    assert problems
    assert all(p.node == "a" for p in problems)


def test_an_operation_tool_runs_that_node_type_with_the_arguments_as_config() -> None:
    tools = [{"name": "fetch", "description": "GET a URL", "operation": "http",
              "inputSchema": {"type": "object", "required": ["url"]}}]  # fmt: skip
    run = started({"tools": tools})
    args = {"url": "https://example.com/x", "method": "GET"}
    run.complete("a.turn[1]", turn({"id": "c1", "name": "fetch", "arguments": args}))
    step = run.state.steps["a.turn[1].call[0]"]
    assert (step.node_type, step.config) == ("http", args)
    assert [s.step for s in run.tasks()] == ["a.turn[1].call[0]"]


@pytest.mark.parametrize(
    ("operation", "code"), [("nope.op", "UNKNOWN_NODE_TYPE"), ("delay", "INVALID_CONFIG")]
)
def test_an_operation_must_be_a_node_type_a_worker_runs(operation: str, code: str) -> None:
    tools = [{"name": "t", "description": "d", "operation": operation}]
    problems = validate_definition(agent(tools=tools))
    assert [(p.code, p.path) for p in problems] == [
        (code, "spec.nodes[0].config.tools[0].operation")]  # fmt: skip
    assert problems[0].node == "a"
