"""`nodes.<id>` that can never be read where it is written is found when a definition is
written (`reference_problems`), while definitions stored before keep loading and running."""

from collections.abc import Sequence
from typing import Any

import pytest

from tideflow.core import (
    ProblemCode,
    StepStatus,
    node_reads,
    parse_definition,
    reference_problems,
    validate_definition,
)
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit

UNKNOWN = ProblemCode.UNKNOWN_NODE_REFERENCE
NOT_UPSTREAM = ProblemCode.NODE_NOT_UPSTREAM


def flow(
    *nodes: dict[str, Any], edges: Sequence[tuple[str, str]] = (), **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "refs"},
        "spec": {"nodes": list(nodes), "edges": [{"from": a, "to": b} for a, b in edges], **spec},
    }


def node(node_id: str, value: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "transform", "config": {"value": value}, **extra}


def found(definition: dict[str, Any]) -> list[tuple[ProblemCode, str, str | None]]:
    assert validate_definition(definition) == []  # well-formed: only the reference is wrong
    return [(p.code, p.path, p.node) for p in reference_problems(definition)]


def test_a_typo_is_found_with_the_node_and_the_closest_id() -> None:
    definition = flow(node("extract"), node("save", "{{ nodes.extarct.output }}"),
                      edges=[("extract", "save")])  # fmt: skip
    [problem] = reference_problems(definition)
    assert (problem.code, problem.path, problem.node) == (
        UNKNOWN,
        "spec.nodes[1].config.value",
        "save",
    )
    assert "nodes.extarct" in problem.message
    assert "did you mean 'extract'" in problem.message


def test_a_node_that_has_not_run_there() -> None:
    # b and c run side by side after a: c cannot count on b's output
    definition = flow(node("a"), node("b"), node("c", "{{ nodes.b.output }}"),
                      edges=[("a", "b"), ("a", "c")])  # fmt: skip
    assert found(definition) == [(NOT_UPSTREAM, "spec.nodes[2].config.value", "c")]
    definition["spec"]["edges"].append({"from": "b", "to": "c"})
    assert found(definition) == []  # now b runs first


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        ("{{ nodes.a.output + nodes['a'].output }}", []),  # an ancestor, both spellings
        ("{{ has(nodes.side) ? nodes.side.output : 0 }}", [NOT_UPSTREAM]),  # read after the test
        ("{{ has(nodes.side) }}", []),  # asking whether another branch ran is fine
        ("{{ has(nodes.nope) }}", [UNKNOWN]),  # ... but not about a node there is not
        ("{{ 'nodes.nope' + 'x' }}", []),  # text, not a reference
        ("{{ [1, 2].map(nodes, nodes * 2) }}", []),  # a macro variable that hides them
        ("{{ size(nodes) }}", []),
        ("{{ nodes.me.output }}", [NOT_UPSTREAM]),  # its own output does not exist yet
        ("{{ nodes.a.output }} and {{ nodes.ghost.output }}", [UNKNOWN]),
    ],
)
def test_what_counts_as_a_reference(value: str, problems: list[ProblemCode]) -> None:
    definition = flow(node("a"), node("side"), node("me", value), edges=[("a", "me")])
    assert [code for code, _path, _node in found(definition)] == problems


def test_every_place_an_expression_is_read() -> None:
    definition = flow(
        node("a"),
        {"id": "check", "type": "condition", "config": {"expr": "nodes.later.output > 1"},
         "idempotencyKey": "{{ nodes.gone.output }}"},
        node("later"),
        {"id": "each", "type": "foreach",
         "config": {"items": "{{ nodes.a.output }}",
                    "node": {"type": "transform", "config": {"value": "{{ nodes.typo.output }}"}}}},
        node("undo", "{{ nodes.a.output + nodes.later.output }}"),  # compensations: any flow node
        node("b", compensate="undo"),
        edges=[("a", "check"), ("check", "later"), ("a", "each"), ("a", "b")],
        output={"total": "{{ nodes.later.output + nodes.nothing.output }}"},
        vars={"first": "{{ nodes.a.output }}"},
    )  # fmt: skip
    definition["spec"]["edges"][1]["when"] = "true"
    assert found(definition) == [
        (NOT_UPSTREAM, "spec.nodes[1].config.expr", "check"),
        (UNKNOWN, "spec.nodes[1].idempotencyKey", "check"),
        (UNKNOWN, "spec.nodes[3].config.node.config.value", "each"),
        (UNKNOWN, "spec.output.total", None),
        (NOT_UPSTREAM, "spec.vars.first", None),  # worked out before any node ran
    ]


def test_what_is_not_well_formed_is_left_to_validate_definition() -> None:
    assert reference_problems({"spec": "nodes"}) == []
    broken = flow(node("a", "{{ nodes.a.output >"), node("b", "{{ nodes.a.output "))
    assert reference_problems(broken) == []
    assert node_reads("nodes.x.y == nodes['z']") != ()


def test_a_stored_version_with_a_typo_still_loads_and_runs_as_before() -> None:
    """Versions published before the check are read by parse_definition (the scheduler,
    the trigger service): they load, and the typo fails only the step that reads it."""
    definition = flow(node("a"), node("b", "{{ nodes.typo.output }}"), edges=[("a", "b")])
    assert reference_problems(definition)
    run = LocalRun(parse_definition(definition))
    run.start({})
    assert run.state.steps["a"].status is StepStatus.SUCCEEDED
    assert run.state.steps["b"].status is StepStatus.FAILED
