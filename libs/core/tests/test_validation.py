"""One row per validation problem code: a broken definition and the code + path it yields."""

import copy
from typing import Any

import pytest

from tideflow.core import (
    DefinitionError,
    ProblemCode,
    parse_definition,
    parse_duration,
    validate_definition,
    validate_input,
)

pytestmark = pytest.mark.unit


def base() -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "v"},
        "spec": {
            "input": {"type": "object", "required": ["n"]},
            "nodes": [
                {"id": "a", "type": "transform", "config": {"value": "{{ input.n }}"}},
                {"id": "c", "type": "condition", "config": {"expr": "nodes.a.output > 1"}},
                {"id": "h", "type": "http", "config": {"url": "https://x"}, "compensate": "u"},
                {"id": "l", "type": "log", "config": {"message": "hi"}},
                {"id": "u", "type": "log", "config": {"message": "undo"}},
            ],
            "edges": [
                {"from": "a", "to": "c"},
                {"from": "c", "to": "h", "when": "true"},
                {"from": "c", "to": "l", "when": "false"},
            ],
        },
    }


def nodes(d: dict[str, Any]) -> list[dict[str, Any]]:
    return d["spec"]["nodes"]


def edges(d: dict[str, Any]) -> list[dict[str, Any]]:
    return d["spec"]["edges"]


CASES = [
    ("unknown type", lambda d: nodes(d)[3].update(type="teleport"),
     ProblemCode.UNKNOWN_NODE_TYPE, "spec.nodes[3].type"),
    ("duplicate id", lambda d: nodes(d)[3].update(id="a"),
     ProblemCode.DUPLICATE_NODE_ID, "spec.nodes[3].id"),
    ("bad id", lambda d: nodes(d)[3].update(id="9 lives"), ProblemCode.INVALID_NODE_ID,
     "spec.nodes[3].id"),
    ("dangling edge", lambda d: edges(d).append({"from": "l", "to": "ghost"}),
     ProblemCode.DANGLING_EDGE, "spec.edges[3]"),
    ("duplicate edge", lambda d: edges(d).append({"from": "a", "to": "c"}),
     ProblemCode.DUPLICATE_EDGE, "spec.edges[3]"),
    ("cycle", lambda d: edges(d).append({"from": "l", "to": "a"}), ProblemCode.CYCLE,
     "spec.nodes[0]"),
    ("cycle off the flow", lambda d: edges(d).extend(
        [{"from": "l", "to": "x"}, {"from": "x", "to": "l"}])
     or nodes(d).append({"id": "x", "type": "log", "config": {"message": "x"}}),
     ProblemCode.CYCLE, "spec.nodes[3]"),
    ("when on non-branch", lambda d: edges(d)[0].update(when="true"),
     ProblemCode.WHEN_ON_NON_BRANCH, "spec.edges[0].when"),
    ("missing when", lambda d: edges(d)[1].pop("when"), ProblemCode.MISSING_WHEN,
     "spec.edges[1]"),
    ("invalid when", lambda d: edges(d)[1].update(when="maybe"), ProblemCode.INVALID_WHEN,
     "spec.edges[1].when"),
    ("syntax error", lambda d: nodes(d)[1]["config"].update(expr="nodes.a.output >"),
     ProblemCode.INVALID_EXPRESSION, "spec.nodes[1].config.expr"),
    ("undeclared variable", lambda d: nodes(d)[0]["config"].update(value="{{ inptu.n }}"),
     ProblemCode.INVALID_EXPRESSION, "spec.nodes[0].config.value"),
    ("unclosed template", lambda d: nodes(d)[0]["config"].update(value="{{ input.n "),
     ProblemCode.INVALID_EXPRESSION, "spec.nodes[0].config"),
    ("secret in inline node", lambda d: nodes(d)[3]["config"].update(message="{{ secrets.k }}"),
     ProblemCode.SECRET_NOT_ALLOWED, "spec.nodes[3].config.message"),
    ("secret mixed with data", lambda d: nodes(d)[2]["config"].update(
        url="{{ secrets.k + input.n }}"), ProblemCode.SECRET_NOT_ALLOWED,
     "spec.nodes[2].config.url"),
    ("the whole secrets map", lambda d: nodes(d)[2]["config"].update(body="{{ secrets }}"),
     ProblemCode.SECRET_NOT_ALLOWED, "spec.nodes[2].config.body"),
    ("secrets map in a call", lambda d: nodes(d)[2]["config"].update(
        headers={"x": "{{ string(secrets) }}"}), ProblemCode.SECRET_NOT_ALLOWED,
     "spec.nodes[2].config.headers.x"),
    ("bad duration", lambda d: nodes(d)[2].update(timeout="soon"), ProblemCode.INVALID_DURATION,
     "spec.nodes[2].timeout"),
    ("zero attempts", lambda d: nodes(d)[2].update(retry={"maxAttempts": 0}),
     ProblemCode.INVALID_RETRY, "spec.nodes[2].retry.maxAttempts"),
    ("max < initial", lambda d: nodes(d)[2].update(
        retry={"initialInterval": "1m", "maxInterval": "1s"}), ProblemCode.INVALID_RETRY,
     "spec.nodes[2].retry.maxInterval"),
    ("coefficient < 1", lambda d: nodes(d)[2].update(retry={"backoffCoefficient": 0.5}),
     ProblemCode.INVALID_RETRY, "spec.nodes[2].retry.backoffCoefficient"),
    ("coefficient NaN", lambda d: nodes(d)[2].update(retry={"backoffCoefficient": float("nan")}),
     ProblemCode.INVALID_RETRY, "spec.nodes[2].retry.backoffCoefficient"),
    ("coefficient inf", lambda d: nodes(d)[2].update(retry={"backoffCoefficient": float("inf")}),
     ProblemCode.INVALID_RETRY, "spec.nodes[2].retry.backoffCoefficient"),
    ("duration past a timedelta", lambda d: nodes(d)[2].update(timeout="99999999999999999999d"),
     ProblemCode.INVALID_DURATION, "spec.nodes[2].timeout"),
    ("duration past the calendar", lambda d: nodes(d)[2].update(timeout="3000000d"),
     ProblemCode.INVALID_DURATION, "spec.nodes[2].timeout"),
    ("duration in seconds past a timedelta", lambda d: nodes(d)[2].update(timeout=1e20),
     ProblemCode.INVALID_DURATION, "spec.nodes[2].timeout"),
    ("queue no topic can be named after", lambda d: nodes(d)[2].update(queue="a b"),
     ProblemCode.SCHEMA_ERROR, "spec.nodes[2].queue"),
    ("foreach child queue", lambda d: nodes(d).__setitem__(3, {
        "id": "l", "type": "foreach", "config": {"items": "{{ [1] }}", "node": {
            "type": "function", "config": {"name": "f"}, "queue": "../x"}}}),
     ProblemCode.SCHEMA_ERROR, "spec.nodes[3].config.node.queue"),
    ("agent timeBudget 0s", lambda d: nodes(d).__setitem__(2, {
        "id": "h", "type": "agent", "compensate": "u",
        "config": {"model": "openai/m", "prompt": "p", "timeBudget": "0s"}}),
     ProblemCode.INVALID_CONFIG, "spec.nodes[2].config.timeBudget"),
    ("nodes a mapping", lambda d: d["spec"].update(nodes={"a": nodes(d)[0]}),
     ProblemCode.SCHEMA_ERROR, "spec.nodes"),
    ("edges a string", lambda d: d["spec"].update(edges="a -> c"),
     ProblemCode.SCHEMA_ERROR, "spec.edges"),
    ("unknown compensate", lambda d: nodes(d)[2].update(compensate="nobody"),
     ProblemCode.UNKNOWN_COMPENSATE, "spec.nodes[2].compensate"),
    ("compensate with edges", lambda d: edges(d).append({"from": "l", "to": "u"}),
     ProblemCode.COMPENSATE_IN_GRAPH, "spec.edges[3]"),
    ("config missing field", lambda d: nodes(d)[2]["config"].pop("url"),
     ProblemCode.INVALID_CONFIG, "spec.nodes[2].config.url"),
    ("config typo", lambda d: nodes(d)[3]["config"].update(mesage="x"),
     ProblemCode.INVALID_CONFIG, "spec.nodes[3].config.mesage"),
    ("foreach child wait type", lambda d: nodes(d).__setitem__(3, {
        "id": "l", "type": "foreach",
        "config": {"items": "{{ [1] }}", "node": {"type": "delay", "config": {"duration": "1s"}}}}),
     ProblemCode.INVALID_CONFIG, "spec.nodes[3].config.node.type"),
    ("item outside foreach", lambda d: nodes(d)[3]["config"].update(message="{{ item }}"),
     ProblemCode.INVALID_EXPRESSION, "spec.nodes[3].config.message"),
    ("bad input schema", lambda d: d["spec"].update(input={"type": "thing"}),
     ProblemCode.INPUT_SCHEMA_INVALID, "spec.input"),
    ("input schema $ref to nowhere", lambda d: d["spec"].update(
        input={"type": "object", "properties": {"n": {"$ref": "#/$defs/nope"}}}),
     ProblemCode.INPUT_SCHEMA_INVALID, "spec.input"),
    ("input schema $ref to another document", lambda d: d["spec"].update(
        input={"$ref": "https://schemas.example/input.json"}),
     ProblemCode.INPUT_SCHEMA_INVALID, "spec.input"),
    ("llm outputSchema $ref to nowhere", lambda d: nodes(d).__setitem__(2, {
        "id": "h", "type": "llm", "compensate": "u",
        "config": {"model": "openai/m", "prompt": "p", "outputSchema": {"$ref": "#/x"}}}),
     ProblemCode.INVALID_CONFIG, "spec.nodes[2].config.outputSchema"),
    ("schema typo", lambda d: nodes(d)[3].update(retrys=3), ProblemCode.SCHEMA_ERROR,
     "spec.nodes[3].retrys"),
    ("bad output template", lambda d: d["spec"].update(output="{{ nodes. }}"),
     ProblemCode.INVALID_EXPRESSION, "spec.output"),
]  # fmt: skip


def test_base_is_valid() -> None:
    assert validate_definition(base()) == []


@pytest.mark.parametrize(
    ("mutate", "code", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_problem(mutate: Any, code: ProblemCode, path: str) -> None:
    definition = copy.deepcopy(base())
    mutate(definition)
    problems = validate_definition(definition)
    assert (code, path) in [(p.code, p.path) for p in problems], problems


@pytest.mark.parametrize(
    "spec",
    [{"nodes": {"a": {"id": "a"}}}, {"nodes": "a"}, {"nodes": [{"id": "a", "type": "log",
     "config": {"message": "x"}}], "edges": {"from": "a"}}],
)  # fmt: skip
def test_what_validates_parses(spec: dict[str, Any]) -> None:
    """validate and parse agree: a shape validate passes never makes parse raise pydantic's
    own error (the gateway would answer 500 for it)."""
    d = {**base(), "spec": spec}
    assert validate_definition(d)
    with pytest.raises(DefinitionError):
        parse_definition(d)


def test_a_schema_ref_within_the_schema_passes() -> None:
    d = base()
    d["spec"]["input"] = {"type": "object", "required": ["n"], "$defs": {"n": {"type": "number"}},
                          "properties": {"n": {"$ref": "#/$defs/n"}}}  # fmt: skip
    assert validate_definition(d) == []
    stored = parse_definition(base())  # a definition stored before $refs were checked
    broken = stored.model_copy(update={"spec": stored.spec.model_copy(
        update={"input": {"properties": {"n": {"$ref": "#/nope"}}}})})  # fmt: skip
    assert [p.code for p in validate_input(broken, {"n": 1})] == [ProblemCode.INPUT_SCHEMA_INVALID]


def test_unreachable_node() -> None:
    d = base()
    nodes(d).append({"id": "x", "type": "log", "config": {"message": "x"}})
    nodes(d).append({"id": "y", "type": "log", "config": {"message": "y"}})
    edges(d).extend([{"from": "x", "to": "y"}, {"from": "y", "to": "x"}, {"from": "y", "to": "l2"}])
    nodes(d).append({"id": "l2", "type": "log", "config": {"message": "z"}})
    problems = validate_definition(d)
    assert {p.code for p in problems} == {ProblemCode.CYCLE, ProblemCode.UNREACHABLE_NODE}
    assert any("x -> y -> x" in p.message or "y -> x -> y" in p.message for p in problems)


def test_every_problem_at_once_and_positions() -> None:
    d = base()
    nodes(d)[3].update(type="teleport")
    nodes(d)[1]["config"].update(expr="nodes.a.output >")
    edges(d).append({"from": "l", "to": "ghost"})
    problems = validate_definition(d)
    codes = {p.code for p in problems}
    assert codes == {
        ProblemCode.UNKNOWN_NODE_TYPE,
        ProblemCode.INVALID_EXPRESSION,
        ProblemCode.DANGLING_EDGE,
    }
    expression = next(p for p in problems if p.code is ProblemCode.INVALID_EXPRESSION)
    assert "column 17" in expression.message
    assert "node 'c'" in expression.message
    with pytest.raises(DefinitionError) as info:
        parse_definition(d)
    assert len(info.value.problems) == len(problems)


def test_yaml_and_json_text() -> None:
    text = "metadata: {name: t}\nspec:\n  nodes: [{id: a, type: log, config: {message: hi}}]\n"
    assert parse_definition(text).spec.nodes[0].id == "a"
    assert (
        validate_definition('{"metadata": {"name": "t"}, "spec": {"nodes": []}}')[0].code
        is ProblemCode.SCHEMA_ERROR
    )
    assert validate_definition("a: [")[0].code is ProblemCode.PARSE_ERROR
    assert validate_definition("- 1")[0].code is ProblemCode.PARSE_ERROR


def test_input_validation() -> None:
    definition = parse_definition(base())
    assert validate_input(definition, {"n": 1}) == []
    problems = validate_input(definition, {"m": 1})
    assert [p.code for p in problems] == [ProblemCode.INPUT_INVALID]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("72h", 259200), ("1h30m", 5400), ("2.5s", 2.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(
    "text", ["", "5", "s", "1x", "1h 30m", "-1s", "1s2", "36501d", "9" * 400 + "ms"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


TRIGGER_CASES = [
    ([{"id": "h", "type": "webhook", "secret": "HOOK"}], []),
    ([{"id": "h", "type": "webhook", "secret": "HOOK", "scheme": "stripe",
       "input": "{{ body.data }}", "idempotencyKey": "{{ body.id }}"}], []),
    ([{"id": "c", "type": "cron", "schedule": "*/10 * * * * *", "timezone": "Asia/Tokyo",
       "catchUp": "all", "input": {"at": "{{ tick }}"}}], []),
    ([{"id": "e", "type": "event", "topic": "shop.orders", "filter": "message.total > 1",
       "key": "{{ message.id }}"}], []),
    ([{"id": "h", "type": "webhook"}], [("INVALID_TRIGGER", "spec.triggers[0].secret")]),
    ([{"id": "h", "type": "webhook", "secret": "HOOK", "scheme": "paypal"}],
     [("INVALID_TRIGGER", "spec.triggers[0].scheme")]),
    ([{"id": "c", "type": "cron", "schedule": "* * *"}],
     [("INVALID_TRIGGER", "spec.triggers[0].schedule")]),
    ([{"id": "c", "type": "cron", "schedule": "* * * * *", "timezone": "Moon/Base"}],
     [("INVALID_TRIGGER", "spec.triggers[0].timezone")]),
    ([{"id": "c", "type": "cron", "schedule": "* * * * *", "catchUp": "some"}],
     [("INVALID_TRIGGER", "spec.triggers[0].catchUp")]),
    ([{"id": "e", "type": "event", "topic": "bad topic!"}],
     [("INVALID_TRIGGER", "spec.triggers[0].topic")]),
    ([{"id": "e", "type": "event", "topic": "t", "filter": "message.x >"}],
     [("INVALID_EXPRESSION", "spec.triggers[0].filter")]),
    ([{"id": "e", "type": "event", "topic": "t", "input": "{{ input.x }}"}],
     [("INVALID_EXPRESSION", "spec.triggers[0].input")]),
    ([{"id": "x", "type": "ftp"}], [("INVALID_TRIGGER", "spec.triggers[0]")]),
    ([{"id": "a b", "type": "webhook", "secret": "S"}],
     [("INVALID_TRIGGER", "spec.triggers[0].id")]),
    ([{"id": "d", "type": "webhook", "secret": "S"}, {"id": "d", "type": "webhook", "secret": "S"}],
     [("DUPLICATE_TRIGGER_ID", "spec.triggers[1].id")]),
    ("nope", [("INVALID_TRIGGER", "spec.triggers")]),
]  # fmt: skip


@pytest.mark.parametrize(("triggers", "expected"), TRIGGER_CASES)
def test_triggers_are_validated_one_by_one(
    triggers: object, expected: list[tuple[str, str]]
) -> None:
    node = {"id": "a", "type": "log", "config": {"message": "x"}}
    document = {"metadata": {"name": "t"}, "spec": {"triggers": triggers, "nodes": [node]}}
    problems = validate_definition(document)
    assert [(str(p.code), p.path) for p in problems] == expected


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [300, 5000])
def test_a_definition_too_deep_to_store_is_a_problem_not_a_crash(depth: int) -> None:
    """A 300-deep literal passed validation, then publishing it raised pydantic's
    serialisation error (and orjson refuses it in RunStarted); 5,000 levels raised
    RecursionError out of validate_definition."""
    d = base()
    nodes(d)[0]["config"]["value"] = _nested(depth)
    problems = validate_definition(d)
    assert [p.code for p in problems] == [ProblemCode.SCHEMA_ERROR]
    assert "deeper than 254 levels" in problems[0].message
    with pytest.raises(DefinitionError):
        parse_definition(d)


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "a: " + "[" * 5000 + "]" * 5000])
def test_text_nested_past_the_parsers_is_a_parse_error(text: str) -> None:
    [problem] = validate_definition(text)
    assert (problem.code, problem.message) == (
        ProblemCode.PARSE_ERROR,
        "not readable: nested too deeply",
    )


def _with_input(schema: dict[str, Any]) -> dict[str, Any]:
    d = base()
    d["spec"]["input"] = schema
    return d


@pytest.mark.timeout(30)
def test_input_patterns_run_in_linear_time() -> None:
    """`pattern` and `patternProperties` went to Python's backtracking `re`: `^(a+)+$`
    over 30 a's and a `!` held the gateway (and the decider, for agent tool arguments)
    for minutes; RE2 answers at once."""
    evil = "^(a+)+$"
    definition = parse_definition(
        _with_input({"type": "object", "properties": {"s": {"type": "string", "pattern": evil}},
                     "patternProperties": {evil: {"type": "integer"}},
                     "additionalProperties": False})
    )  # fmt: skip
    text = "a" * 30 + "!"
    problems = validate_input(definition, {"s": text})
    assert [(p.code, p.path) for p in problems] == [(ProblemCode.INPUT_INVALID, "input.s")]
    problems = validate_input(definition, {text: 1})
    assert "does not match any of the regexes" in problems[0].message
    assert validate_input(definition, {"s": "aaa", "aa": 1}) == []
    assert [p.path for p in validate_input(definition, {"aa": "x"})] == ["input.aa"]


@pytest.mark.parametrize("pattern", ["(?=x)", "(a)\\1"])
def test_patterns_re2_cannot_run_are_refused(pattern: str) -> None:
    problems = validate_definition(_with_input({"type": "string", "pattern": pattern}))
    assert [p.code for p in problems] == [ProblemCode.INPUT_SCHEMA_INVALID]
    assert "RE2" in problems[0].message
