"""One row per node type: a tiny workflow, the moves of workers/clock/people, the outcome."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tideflow.core import NODE_TYPES, RunStatus, StepStatus, effects, resolve_secrets
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit


def flow(*nodes: dict[str, Any], edges: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "t"}, "spec": {"nodes": list(nodes), "edges": edges or []}}


def node(id_: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "type": type_, **extra}


Moves = Callable[[LocalRun], object]


def nothing(run: LocalRun) -> None:
    return None


CASES: list[tuple[str, dict[str, Any], Any, Moves, RunStatus, str, Any]] = [
    ("transform typed value", flow(node("t", "transform", config={"value": "{{ input.n * 2 }}"})),
     {"n": 21}, nothing, RunStatus.SUCCEEDED, "t", 42),
    ("transform interpolation", flow(node("t", "transform",
     config={"value": {"msg": "n={{ input.n }} {{ [1, 2] }}"}})), {"n": 1}, nothing,
     RunStatus.SUCCEEDED, "t", {"msg": "n=1 [1,2]"}),
    ("transform expression error", flow(node("t", "transform", config={"value": "{{ 1 / 0 }}"})),
     None, nothing, RunStatus.FAILED, "t", None),
    ("condition", flow(node("c", "condition", config={"expr": "input.n > 1"})), {"n": 2},
     nothing, RunStatus.SUCCEEDED, "c", {"result": True}),
    ("condition not bool", flow(node("c", "condition", config={"expr": "input.n"})), {"n": 2},
     nothing, RunStatus.FAILED, "c", None),
    ("switch", flow(node("s", "switch", config={"expr": "input.kind"})), {"kind": "b"}, nothing,
     RunStatus.SUCCEEDED, "s", {"value": "b"}),
    ("log", flow(node("l", "log", config={"message": "hello {{ input.who }}", "level": "warning"})),
     {"who": "ada"}, nothing, RunStatus.SUCCEEDED, "l",
     {"message": "hello ada", "level": "warning"}),
    ("set", flow(node("s", "set", config={"vars": {"x": "{{ input.n + 1 }}"}})), {"n": 1}, nothing,
     RunStatus.SUCCEEDED, "s", {"x": 2}),
    ("http success", flow(node("h", "http", config={"url": "https://e/{{ input.id }}"})),
     {"id": 7}, lambda r: r.complete("h", {"status": 200}), RunStatus.SUCCEEDED, "h",
     {"status": 200}),
    ("http retry then success", flow(node("h", "http", config={"url": "https://e"},
     retry={"maxAttempts": 3, "initialInterval": "1s"})), None,
     lambda r: (r.fail("h", "HTTP503"), r.advance(timedelta(seconds=1)), r.complete("h", 1)),
     RunStatus.SUCCEEDED, "h", 1),
    ("llm success", flow(node("a", "llm", config={"model": "m", "prompt": "hi {{ input.who }}"})),
     {"who": "ada"}, lambda r: r.complete("a", {"text": "hello"}), RunStatus.SUCCEEDED, "a",
     {"text": "hello"}),
    ("llm output invalid is final", flow(node("a", "llm", config={"model": "m", "prompt": "x"},
     retry={"maxAttempts": 3})), None,
     lambda r: r.fail("a", "LLM_OUTPUT_INVALID", retryable=False), RunStatus.FAILED, "a", None),
    ("agent calls a tool then answers", flow(node("a", "agent", config={
     "model": "m", "prompt": "find {{ input.q }}", "tools": [
         {"name": "look", "description": "look it up", "task": "lookup"}]})), {"q": "x"},
     lambda r: (r.complete("a.turn[1]", {"toolCalls": [
         {"id": "c1", "name": "look", "arguments": {"q": "x"}}]}),
         r.complete("a.turn[1].call[0]", {"found": 1}), r.complete("a.turn[2]", {"text": "ok"})),
     RunStatus.SUCCEEDED, "a", {"text": "ok", "iterations": 2, "model": None,
     "toolCalls": [{"name": "look", "arguments": {"q": "x"}, "result": {"found": 1}}],
     "usage": {"promptTokens": 0, "completionTokens": 0, "totalTokens": 0}}),
    ("ocr polled then done", flow(node("o", "ocr", config={"document": "s3://b/{{ input.k }}"})),
     {"k": "x.pdf"}, lambda r: (r.poll("o", timedelta(seconds=5), {"jobId": "j"}),
     r.advance(timedelta(seconds=5)), r.complete("o", {"text": "hi"})), RunStatus.SUCCEEDED,
     "o", {"text": "hi"}),
    ("database", flow(node("d", "database", config={"connectionSecret": "db",
     "statement": "SELECT $1", "params": ["{{ input.n }}"]})), {"n": 2},
     lambda r: r.complete("d", {"rows": [{"n": 2}]}), RunStatus.SUCCEEDED, "d",
     {"rows": [{"n": 2}]}),
    ("notify", flow(node("t", "notify", config={"channel": "webhook", "url": "https://e",
     "payload": "{{ input }}"})), {"a": 1}, lambda r: r.complete("t", {"status": 200}),
     RunStatus.SUCCEEDED, "t", {"status": 200}),
    ("http non-retryable 404", flow(node("h", "http", config={"url": "https://e"})), None,
     lambda r: r.fail("h", "HTTP404", retryable=False), RunStatus.FAILED, "h", None),
    ("http retries exhausted", flow(node("h", "http", config={"url": "https://e"},
     retry={"maxAttempts": 2})), None,
     lambda r: (r.fail("h"), r.advance(timedelta(minutes=1)), r.fail("h")),
     RunStatus.FAILED, "h", None),
    ("http nonRetryable type", flow(node("h", "http", config={"url": "https://e"},
     retry={"nonRetryable": ["Auth"]})), None, lambda r: r.fail("h", "Auth"),
     RunStatus.FAILED, "h", None),
    ("http timeout then retry", flow(node("h", "http", config={"url": "https://e"},
     timeout="5s", retry={"maxAttempts": 2, "initialInterval": "1s"})), None,
     lambda r: (r.advance(timedelta(seconds=5)), r.advance(timedelta(seconds=1)),
                r.complete("h", "late")), RunStatus.SUCCEEDED, "h", "late"),
    ("function", flow(node("f", "function", config={"name": "add", "input": "{{ input }}"})),
     {"a": 1}, lambda r: r.complete("f", 3), RunStatus.SUCCEEDED, "f", 3),
    ("delay", flow(node("d", "delay", config={"duration": "{{ input.wait }}"})), {"wait": "5m"},
     lambda r: r.advance(timedelta(minutes=5)), RunStatus.SUCCEEDED, "d", None),
    ("delay not yet", flow(node("d", "delay", config={"duration": "5m"})), None,
     lambda r: r.advance(timedelta(minutes=4)), RunStatus.WAITING, "d", None),
    ("signal", flow(node("s", "signal", config={"name": "go"})), None,
     lambda r: r.signal("go", {"ok": 1}), RunStatus.SUCCEEDED, "s", {"ok": 1}),
    ("signal other name waits", flow(node("s", "signal", config={"name": "go"})), None,
     lambda r: r.signal("stop"), RunStatus.WAITING, "s", None),
    ("signal timeout", flow(node("s", "signal", config={"name": "go", "timeout": "1h"})), None,
     lambda r: r.advance(timedelta(hours=1)), RunStatus.FAILED, "s", None),
    ("approval approved", flow(node("a", "approval", config={"role": "admin"})), None,
     lambda r: r.decide_approval("a", approved=True), RunStatus.SUCCEEDED, "a",
     {"decision": "approve", "by": "alice", "comment": None, "decidedAt": "2025-01-01T00:00:00Z",
      "decisions": []}),
    ("approval rejected", flow(node("a", "approval", config={"role": "admin"})), None,
     lambda r: r.decide_approval("a", approved=False), RunStatus.FAILED, "a", None),
    ("foreach inline", flow(node("e", "foreach", config={"items": "{{ input.xs }}",
     "node": {"type": "transform", "config": {"value": "{{ item * index }}"}}})),
     {"xs": [5, 6, 7]}, nothing, RunStatus.SUCCEEDED, "e", [0, 6, 14]),
    ("foreach empty", flow(node("e", "foreach", config={"items": "{{ [] }}",
     "node": {"type": "function", "config": {"name": "f"}}})), None, nothing,
     RunStatus.SUCCEEDED, "e", []),
    ("foreach dispatched out of order", flow(node("e", "foreach", config={
     "items": "{{ [1, 2] }}", "concurrency": 1,
     "node": {"type": "function", "config": {"name": "f", "input": "{{ item }}"}}})), None,
     lambda r: (r.complete("e[0]", "a"), r.complete("e[1]", "b")), RunStatus.SUCCEEDED, "e",
     ["a", "b"]),
    ("foreach not a list", flow(node("e", "foreach", config={"items": "{{ 3 }}",
     "node": {"type": "function", "config": {"name": "f"}}})), None, nothing,
     RunStatus.FAILED, "e", None),
    ("subworkflow", flow(node("c", "subworkflow", config={"workflow": "child",
     "input": "{{ input }}"})), {"q": 1}, lambda r: r.complete("c", {"answer": 42}),
     RunStatus.SUCCEEDED, "c", {"answer": 42}),
    ("subworkflow failure is final", flow(node("c", "subworkflow", config={"workflow": "ch"})),
     None, lambda r: r.fail("c"), RunStatus.FAILED, "c", None),
]  # fmt: skip


def test_every_node_type_has_a_case() -> None:
    covered = {c[1]["spec"]["nodes"][0]["type"] for c in CASES}
    assert covered == set(NODE_TYPES)


@pytest.mark.parametrize(
    ("definition", "input_", "moves", "status", "step", "output"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_node_semantics(  # noqa: PLR0917 - one parameter per table column
    definition: dict[str, Any],
    input_: Any,
    moves: Moves,
    status: RunStatus,
    step: str,
    output: Any,
) -> None:
    run = LocalRun(definition)
    run.start(input_)
    moves(run)
    assert run.state.status is status, run.event_types()
    if status is RunStatus.SUCCEEDED:
        assert run.state.steps[step].output == output
        assert run.state.output == {step: output}
    if status is RunStatus.FAILED:
        assert run.state.steps[step].status is StepStatus.FAILED
        assert run.state.error is not None
        assert run.state.error.step == step


def test_expression_error_names_node_and_expression() -> None:
    run = LocalRun(flow(node("t", "transform", config={"value": "{{ input.missing }}"})))
    run.start({})
    error = run.state.steps["t"].error
    assert error is not None
    assert not error.retryable
    assert "node 't'" in error.message
    assert "input.missing" in error.message


def test_branches_skip_and_join_any() -> None:
    definition = flow(
        node("c", "condition", config={"expr": "input.n > 1"}),
        node("yes", "log", config={"message": "y"}),
        node("no", "log", config={"message": "n"}),
        node("after_no", "log", config={"message": "skipped too"}),
        node("join", "transform", config={"value": "done"}),
        edges=[
            {"from": "c", "to": "yes", "when": "true"},
            {"from": "c", "to": "no", "when": "false"},
            {"from": "no", "to": "after_no"},
            {"from": "yes", "to": "join"},
            {"from": "after_no", "to": "join"},
        ],
    )
    run = LocalRun(definition)
    run.start({"n": 5})
    statuses = {k: s.status for k, s in run.state.steps.items()}
    assert statuses == {
        "c": StepStatus.SUCCEEDED,
        "yes": StepStatus.SUCCEEDED,
        "no": StepStatus.SKIPPED,
        "after_no": StepStatus.SKIPPED,
        "join": StepStatus.SUCCEEDED,
    }
    assert run.state.status is RunStatus.SUCCEEDED


def test_switch_default_branch() -> None:
    definition = flow(
        node("s", "switch", config={"expr": "input.k"}),
        node("a", "log", config={"message": "a"}),
        node("other", "log", config={"message": "other"}),
        edges=[
            {"from": "s", "to": "a", "when": "a"},
            {"from": "s", "to": "other", "when": "default"},
        ],
    )
    for value, ran in (("a", "a"), ("zzz", "other")):
        run = LocalRun(definition)
        run.start({"k": value})
        assert [k for k, s in run.state.steps.items() if s.status is StepStatus.SUCCEEDED] == [
            "s",
            ran,
        ]


def test_join_any_fires_once_and_all_waits() -> None:
    definition = flow(
        node("a", "function", config={"name": "a"}),
        node("b", "function", config={"name": "b"}),
        node("any", "function", config={"name": "x"}, join="any"),
        node("all", "function", config={"name": "y"}),
        edges=[
            {"from": "a", "to": "any"},
            {"from": "b", "to": "any"},
            {"from": "a", "to": "all"},
            {"from": "b", "to": "all"},
        ],
    )
    run = LocalRun(definition)
    run.start()
    run.complete("a")
    assert run.state.steps["any"].status is StepStatus.SCHEDULED
    assert run.state.steps["all"].status is StepStatus.PENDING
    run.complete("b")
    assert run.state.steps["any"].attempt == 1
    assert run.state.steps["all"].status is StepStatus.SCHEDULED


def test_secrets_never_evaluated_by_the_core() -> None:
    definition = flow(
        node("h", "http", config={
            "url": "https://e/{{ input.path }}",
            "headers": {"Authorization": "Bearer {{ secrets.token }}", "X": "{{ input.path }}"},
        })
    )  # fmt: skip
    run = LocalRun(definition)
    events = run.start({"path": "{{ secrets.token }}"})
    dispatch = next(e for e in effects(run.state, events) if type(e).__name__ == "DispatchTask")
    text = repr(run.events)
    assert "s3cret" not in text
    resolved = resolve_secrets(dispatch.config, dispatch.secret_paths, {"token": "s3cret"})  # type: ignore[attr-defined]
    assert resolved["headers"]["Authorization"] == "Bearer s3cret"
    assert resolved["headers"]["X"] == "{{ secrets.token }}"
    assert resolved["url"] == "https://e/{{ secrets.token }}"


def test_cancel_cancels_active_steps() -> None:
    run = LocalRun(
        flow(node("h", "http", config={"url": "https://e"}, timeout="1m"),
             node("n", "log", config={"message": "x"}), edges=[{"from": "h", "to": "n"}])
    )  # fmt: skip
    run.start()
    run.cancel("user asked")
    assert run.state.status is RunStatus.CANCELLED
    assert run.state.steps["h"].status is StepStatus.CANCELLED
    assert run.state.steps["n"].status is StepStatus.SKIPPED
    assert run.state.timers == {}
    assert run.complete("h") == []
