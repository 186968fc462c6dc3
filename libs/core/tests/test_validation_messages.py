"""Problems a person can act on: the node's id, the fields that exist, the valid types,
and expressions the declared input types make fail on every run."""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.core import NODE_TYPES, ProblemCode, validate_definition

pytestmark = pytest.mark.unit


def workflow(*nodes: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "m"},
            "spec": {"nodes": list(nodes), **spec}}  # fmt: skip


def only(document: dict[str, Any]) -> Any:
    (problem,) = validate_definition(document)
    return problem


def test_a_problem_inside_a_node_names_the_node() -> None:
    problem = only(workflow(
        {"id": "first", "type": "log", "config": {"message": "hi"}},
        {"id": "cool-off", "type": "delay", "config": {"duration": "soon"}},
    ))  # fmt: skip
    assert problem.code is ProblemCode.INVALID_DURATION
    assert problem.path == "spec.nodes[1].config.duration"
    assert problem.node == "cool-off"
    assert problem.message.startswith("node 'cool-off': ")


def test_every_node_problem_carries_the_node_and_edges_are_named() -> None:
    document = workflow(
        {"id": "a", "type": "log", "config": {"message": "hi"}, "timeout": "0s"},
        {"id": "b", "type": "log", "config": {}},
        edges=[{"from": "a", "to": "ghost"}],
    )
    problems = validate_definition(document)
    assert {p.node for p in problems if p.path.startswith("spec.nodes")} == {"a", "b"}
    assert all(p.message.startswith(f"node {p.node!r}") for p in problems if p.node)
    (edge,) = [p for p in problems if p.path.startswith("spec.edges")]
    assert "a -> ghost" in edge.message


def test_unknown_node_type_lists_the_valid_ones() -> None:
    problem = only(workflow({"id": "t", "type": "transfrom", "config": {}}))
    assert problem.code is ProblemCode.UNKNOWN_NODE_TYPE
    assert "did you mean 'transform'?" in problem.message
    assert all(name in problem.message for name in NODE_TYPES)


@pytest.mark.parametrize(
    ("node", "extra", "named"),
    [
        ({"id": "n", "type": "log", "config": {"message": "m"}, "retrys": 3}, "retrys",
         "a node takes only id, type"),
        ({"id": "n", "type": "log", "config": {"message": "m", "colour": "red"}}, "colour",
         "the config of a log node takes only message, level"),
        ({"id": "n", "type": "log", "config": {"message": "m"}, "retry": {"maxAttempt": 2}},
         "maxAttempt", "a node's retry takes only maxAttempts"),
    ],
)  # fmt: skip
def test_an_unknown_field_says_what_the_mapping_takes(
    node: dict[str, Any], extra: str, named: str
) -> None:
    problem = only(workflow(node))
    assert f"unknown field {extra!r}" in problem.message
    assert named in problem.message
    assert "Extra inputs are not permitted" not in problem.message


def test_a_typo_gets_a_suggestion() -> None:
    problem = only(workflow({"id": "n", "type": "log", "config": {"message": "m"}, "retrys": 3}))
    assert "(did you mean 'retry'?)" in problem.message


def test_a_list_whose_items_are_all_wrong_is_not_also_called_empty() -> None:
    problems = validate_definition(workflow({"id": "n", "type": "log", "config": {}, "x": 1}))
    assert [p.path for p in problems if p.path == "spec.nodes"] == []


TAGS = {"type": "array", "items": {"type": "string"}}
INPUT = {"type": "object",
         "properties": {"x": {"type": "number"}, "n": {"type": "integer"},
                        "name": {"type": "string"}, "tags": TAGS}}  # fmt: skip


@pytest.mark.parametrize(
    "template",
    ["{{ 'total=' + input.x }}", "{{ 'n=' + input.n }}", "{{ input.name + 1 }}",
     "{{ input.name.first }}", "{{ input.x > 'a' }}", "{{ input.tags[0] + 1 }}"],
)  # fmt: skip
def test_an_expression_the_input_types_make_fail_is_refused(template: str) -> None:
    problem = only(workflow({"id": "t", "type": "transform", "config": {"value": template}},
                            input=INPUT))  # fmt: skip
    assert problem.code is ProblemCode.INVALID_EXPRESSION
    assert problem.node == "t"
    assert "spec.input" in problem.message


@pytest.mark.parametrize(
    "template",
    ["{{ 'total=' + string(input.x) }}", "{{ input.x + 1 }}", "{{ input.x * 2.0 }}",
     "{{ input.n + 1 }}", "{{ 'hi ' + input.name }}", "{{ input.missing + 1 }}",
     "{{ size(input.tags) }}", "total={{ input.x }}", "{{ input.tags[3] }}"],
)  # fmt: skip
def test_expressions_that_can_work_are_accepted(template: str) -> None:
    document = workflow({"id": "t", "type": "transform", "config": {"value": template}},
                        input=INPUT)  # fmt: skip
    assert validate_definition(document) == []


def test_conditions_and_the_output_are_checked_too() -> None:
    document = workflow(
        {"id": "c", "type": "condition", "config": {"expr": "input.name > 3"}},
        {"id": "l", "type": "log", "config": {"message": "m"}},
        edges=[{"from": "c", "to": "l", "when": "true"}],
        input=INPUT,
        output="{{ 'n=' + input.n }}",
    )
    assert sorted(p.path for p in validate_definition(document)) == [
        "spec.nodes[0].config.expr",
        "spec.output",
    ]


def test_without_an_input_schema_types_are_not_guessed() -> None:
    document = workflow(
        {"id": "t", "type": "transform", "config": {"value": "{{ 'a' + input.x }}"}}
    )
    assert validate_definition(document) == []


def test_a_foreach_of_a_subworkflow_is_refused_with_the_way_out() -> None:
    problem = only(workflow({"id": "each", "type": "foreach", "config": {
        "items": "{{ input.ids }}", "node": {"type": "subworkflow", "config": {"workflow": "w"}},
    }}))  # fmt: skip
    assert problem.code is ProblemCode.INVALID_CONFIG
    assert "not 'subworkflow'" in problem.message
    assert problem.node == "each"
