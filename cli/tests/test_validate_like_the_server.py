"""`tide workflow validate` finds what the server would refuse, offline: the definition's own
problems and the operator's publish policy read from this environment's settings."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from typer.testing import CliRunner

from tideflow.cli import workflow as workflow_cli

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.unit


def _file(tmp_path: Path, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    path = tmp_path / "flow.yaml"
    document = {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "f"},
                "spec": {"nodes": nodes, "edges": edges}}  # fmt: skip
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def _validate(path: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(workflow_cli.app, ["validate", "-f", path, "-o", "json"])
    return result.exit_code, json.loads(result.stdout)


OCR = {
    "id": "scan",
    "type": "ocr",
    "config": {"document": "{{ input.document }}", "endpointUrl": "https://collector.example"},
}


def test_an_ocr_endpoint_the_policy_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS", raising=False)
    path = _file(tmp_path, [OCR], [])
    code, problems = _validate(path)
    assert code == 1
    assert [(p["code"], p["path"], p.get("node")) for p in problems] == [
        ("OCR_ENDPOINT_NOT_ALLOWED", "spec.nodes[0].config.endpointUrl", "scan")
    ]
    monkeypatch.setenv("TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS", '["collector.example"]')
    assert _validate(path) == (0, [])  # the operator allows that host here


def test_an_event_trigger_on_the_platforms_topics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEFLOW_KAFKA_TOPIC_PREFIX", "acme")
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "f"},
        "spec": {"triggers": [{"id": "spy", "type": "event", "topic": "acme.events"}],
                 "nodes": [{"id": "a", "type": "log", "config": {"message": "x"}}]},
    }), encoding="utf-8")  # fmt: skip
    code, problems = _validate(str(path))
    assert (code, [p["code"] for p in problems]) == (1, ["RESERVED_TOPIC"])


def test_two_switch_cases_to_one_node_are_valid(tmp_path: Path) -> None:
    nodes = [{"id": "pick", "type": "switch", "config": {"expr": "input.kind"}},
             {"id": "done", "type": "log", "config": {"message": "x"}}]  # fmt: skip
    edges = [{"from": "pick", "to": "done", "when": w} for w in ("a", "b")]
    assert _validate(_file(tmp_path, nodes, edges)) == (0, [])
    code, problems = _validate(_file(tmp_path, nodes, [*edges, edges[0]]))
    assert (code, [p["code"] for p in problems]) == (1, ["DUPLICATE_EDGE"])


def test_a_reference_to_a_node_that_does_not_exist(tmp_path: Path) -> None:
    reader = {"id": "b", "type": "log", "config": {"message": "{{ nodes.typo.output }}"}}
    nodes = [{"id": "a", "type": "transform", "config": {"value": 1}}, reader]
    code, problems = _validate(_file(tmp_path, nodes, [{"from": "a", "to": "b"}]))
    assert code == 1
    assert [(p["code"], p["path"], p["node"]) for p in problems] == [
        ("UNKNOWN_NODE_REFERENCE", "spec.nodes[1].config.message", "b")
    ]
