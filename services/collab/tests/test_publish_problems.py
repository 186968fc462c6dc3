"""A collab publish refuses what the gateway refuses: references to nodes that do not
exist or have not run where they are read included."""

from __future__ import annotations

import pytest

from tideflow.collab.publishing import problems_of

pytestmark = pytest.mark.unit


def test_a_reference_to_a_node_that_has_not_run_is_a_problem() -> None:
    definition = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
        "spec": {"nodes": [{"id": "a", "type": "transform", "config": {"value": 1}},
                           {"id": "b", "type": "transform",
                            "config": {"value": "{{ nodes.a.output }}"}}]},
    }  # fmt: skip
    [problem] = problems_of("w", definition)
    assert (problem.code, problem.path, problem.node) == (
        "NODE_NOT_UPSTREAM",
        "spec.nodes[1].config.value",
        "b",
    )
    definition["spec"]["edges"] = [{"from": "a", "to": "b"}]
    assert problems_of("w", definition) == []
