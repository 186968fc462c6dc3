"""A collab publish refuses what the gateway refuses: references to nodes that do not
exist or have not run where they are read included."""

from __future__ import annotations

import pytest

from tideflow.collab.publishing import problems_of
from tideflow.collab.settings import CollabSettings

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


def test_the_publish_policy_reads_the_gateways_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment with its own topic prefix: an event trigger on its run events is
    refused by a collab publish as by the gateway (collab checked the default prefix)."""
    monkeypatch.setenv("TIDEFLOW_KAFKA_TOPIC_PREFIX", "acme")
    monkeypatch.setenv("TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS", '["textract.vpce.example"]')
    policy = CollabSettings().publish_policy
    assert policy.topic_prefix == "acme"
    assert policy.aws_endpoint_allowed("https://textract.vpce.example")
    definition = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
        "spec": {"triggers": [{"id": "spy", "type": "event", "topic": "acme.events"}],
                 "nodes": [{"id": "a", "type": "log", "config": {"message": "x"}}]},
    }  # fmt: skip
    [problem] = problems_of("w", definition, policy=policy)
    assert (problem.code, problem.path) == ("RESERVED_TOPIC", "spec.triggers[0].topic")
