"""Edges between the same two nodes: one per branch is a graph, the same branch twice a typo."""

from typing import Any

import pytest

from tideflow.core import ProblemCode, StepStatus, validate_definition
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit


def switch_to_one_node(*whens: str | None) -> dict[str, Any]:
    """A switch whose edges (one per `when`) all lead to `done`, plus `other` for the rest."""
    edges: list[dict[str, Any]] = [{"from": "pick", "to": "done", "when": w} for w in whens]
    edges.append({"from": "pick", "to": "other", "when": "default"})
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "cases"},
        "spec": {
            "nodes": [
                {"id": "pick", "type": "switch", "config": {"expr": "input.kind"}},
                {"id": "done", "type": "log", "config": {"message": "a or b"}},
                {"id": "other", "type": "log", "config": {"message": "the rest"}},
            ],
            "edges": edges,
        },
    }


def test_two_cases_to_the_same_node_are_valid_and_run() -> None:
    definition = switch_to_one_node("a", "b")
    assert validate_definition(definition) == []
    for kind, ran, skipped in (("a", "done", "other"), ("b", "done", "other"),
                               ("c", "other", "done")):  # fmt: skip
        run = LocalRun(definition)
        run.start({"kind": kind})
        assert run.state.steps[ran].status is StepStatus.SUCCEEDED, kind
        assert run.state.steps[skipped].status is StepStatus.SKIPPED, kind


def test_the_same_case_twice_is_a_duplicate() -> None:
    problems = validate_definition(switch_to_one_node("a", "b", "a"))
    assert [(p.code, p.path) for p in problems] == [(ProblemCode.DUPLICATE_EDGE, "spec.edges[2]")]
    assert "when 'a'" in problems[0].message


def test_an_approvals_default_branch_written_both_ways_is_a_duplicate() -> None:
    definition = {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "ok"},
        "spec": {
            "nodes": [
                {"id": "ask", "type": "approval", "config": {"role": "approver"}},
                {"id": "go", "type": "log", "config": {"message": "go"}},
            ],
            "edges": [{"from": "ask", "to": "go"}, {"from": "ask", "to": "go", "when": "approve"}],
        },
    }
    problems = validate_definition(definition)
    assert [(p.code, p.path) for p in problems] == [(ProblemCode.DUPLICATE_EDGE, "spec.edges[1]")]
    definition["spec"]["edges"][1]["when"] = "reject"
    assert validate_definition(definition) == []
