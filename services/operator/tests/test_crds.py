"""The CRDs: generated from the models, structural, and in agreement with the CLI.

The same files `tide workflow apply` takes must be resources `kubectl apply` takes, and a
workflow the API server would refuse must be one the definition models refuse too.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tideflow.core import WorkflowSpec, validate_definition
from tideflow.operator.crds import manifests, render
from tideflow.operator.crschema import resource_errors, structural_violations
from tideflow.operator.resources import WorkerPoolSpec, WorkerPoolStatus, WorkflowStatus

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
MANIFESTS = manifests()
WORKFLOW_CRD = MANIFESTS["crds/workflows.tideflow.io.yaml"]
POOL_CRD = MANIFESTS["crds/workerpools.tideflow.io.yaml"]


def openapi(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("relative", sorted(MANIFESTS))
def test_committed_manifests_are_the_generated_ones(relative: str) -> None:
    path = ROOT / "deploy" / relative
    assert path.is_file(), f"{path} is missing: run `tide k8s generate`"
    assert path.read_text(encoding="utf-8") == render(MANIFESTS[relative]), (
        f"{path} is stale: run `tide k8s generate`"
    )


@pytest.mark.parametrize("crd", [WORKFLOW_CRD, POOL_CRD], ids=["workflows", "workerpools"])
def test_crd_schemas_are_structural(crd: dict[str, Any]) -> None:
    schema = openapi(crd)
    assert structural_violations(schema) == []
    assert "$ref" not in yaml.safe_dump(crd)
    assert crd["spec"]["scope"] == "Namespaced"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1"
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "'$ref' is not allowed"),
        ({"type": "object", "properties": {"a": {}}}, "a: type is required"),
        (
            {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}},
            "'type' is not allowed inside a junctor",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "object", "oneOf": [
                {"properties": {"b": {"enum": [1]}}}]}}},
            "b: not declared outside the junctor",
        ),
        ({"type": "object", "additionalProperties": True}, "additionalProperties: true"),
        ({"type": "string", "const": "x"}, "'const' is not allowed"),
        (
            {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
                "labels": {"type": "object"}}}}},
            "only name/generateName",
        ),
    ],
)  # fmt: skip
def test_the_structural_check_finds_violations(schema: dict[str, Any], fragment: str) -> None:
    assert any(fragment in problem for problem in structural_violations(schema))


def test_printer_columns_point_at_declared_fields() -> None:
    for crd in (WORKFLOW_CRD, POOL_CRD):
        schema = openapi(crd)
        for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]:
            path = column["jsonPath"].split("[")[0].strip(".").split(".")
            if path[0] == "metadata":
                continue
            node = schema
            for part in path:
                node = node["properties"][part]
            assert node, column


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_is_a_valid_resource_and_a_valid_definition(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert resource_errors(WORKFLOW_CRD, document) == []
    assert validate_definition(document) == []


def test_the_workerpool_example_is_valid() -> None:
    document = yaml.safe_load((ROOT / "examples/kubernetes/workerpool.yaml").read_text())
    assert resource_errors(POOL_CRD, document) == []
    WorkerPoolSpec.model_validate(document["spec"])


def _hello() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples/hello.yaml").read_text(encoding="utf-8"))


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


_DELETE = object()
BROKEN_SPECS = [
    ("spec.nodes", []),
    ("spec.nodes.0.type", _DELETE),
    ("spec.nodes.0.id", _DELETE),
    ("spec.nodes.0.typo", "x"),
    ("spec.nodez", []),
    ("spec.edges.0.to", _DELETE),
    ("spec.edges.0.form", "greet"),
    ("spec.nodes.0.retry", {"maxAttempts": "three"}),
    ("spec.nodes.0.retry", {"initialInterval": "soon"}),
    ("spec.nodes.0.timeout", "5 minutes"),
    ("spec.nodes.0.timeout", -3),
    ("spec.nodes.0.join", "some"),
    ("spec.nodes.0.config", "not a mapping"),
    ("spec.vars", ["a list"]),
    ("spec.triggers", [{"id": "t", "type": "carrier-pigeon"}]),
    ("spec.triggers", [{"id": "t", "type": "cron"}]),
    ("spec.triggers", [{"id": "t", "type": "webhook", "secret": "S", "schedule": "* * * * *"}]),
    ("spec.triggers", [{"id": "bad id!", "type": "webhook", "secret": "S"}]),
    ("spec.triggers", [{"id": "t", "type": "event", "topic": "no spaces allowed"}]),
]


@pytest.mark.parametrize(("path", "value"), BROKEN_SPECS, ids=[p for p, _ in BROKEN_SPECS])
def test_a_broken_workflow_is_refused_by_the_crd_and_the_cli(path: str, value: Any) -> None:
    document = _hello()
    _set(document, path, copy.deepcopy(value))
    assert resource_errors(WORKFLOW_CRD, document) != []
    assert validate_definition(document) != []  # what `tide workflow validate` reports


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("apiVersion", "tideflow.io/v2"),
        ("kind", "Workflows"),
        ("metadata.name", "Not_A_DNS_Name"),
        ("metadata.description", "ObjectMeta has no description: use an annotation"),
        ("spec", _DELETE),
    ],
)
def test_a_resource_kubernetes_would_refuse_is_refused(path: str, value: Any) -> None:
    document = _hello()
    _set(document, path, value)
    assert resource_errors(WORKFLOW_CRD, document) != []


def test_valid_variations_are_accepted_by_both() -> None:
    document = _hello()
    document["spec"]["nodes"][0]["timeout"] = 30  # seconds as a number
    document["spec"]["nodes"][0]["retry"] = {"maxAttempts": 2, "initialInterval": "1h30m"}
    document["spec"]["nodes"][1]["compensate"] = None
    document["spec"]["triggers"] = [
        {"id": "hook", "type": "webhook", "secret": "HOOK", "input": "{{ body }}"},
        {"id": "nightly", "type": "cron", "schedule": "0 2 * * *", "timezone": "Europe/Berlin"},
        {"id": "orders", "type": "event", "topic": "shop.orders", "filter": "true"},
    ]
    document["status"] = {"publishedVersion": 3, "conditions": []}
    assert resource_errors(WORKFLOW_CRD, document) == []
    WorkflowSpec.model_validate(document["spec"])


def _pool(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "WorkerPool",
        "metadata": {"name": "default"},
        "spec": {"queue": "default", "deployment": "executor", **spec},
    }


@pytest.mark.parametrize(
    "spec",
    [
        {"queue": "bad queue"},
        {"minReplicas": 0},
        {"maxReplicas": 0},
        {"targetLagPerReplica": 0},
        {"tolerance": 2},
        {"scaleUpCooldown": "later"},
        {"maxScaleDownStep": 0},
        {"replicas": 3},
        {"deployment": ""},
    ],
)
def test_a_broken_workerpool_is_refused_by_the_crd_and_the_model(spec: dict[str, Any]) -> None:
    document = _pool(**spec)
    assert resource_errors(POOL_CRD, document) != []
    with pytest.raises(ValidationError):
        WorkerPoolSpec.model_validate(document["spec"])


def test_min_above_max_is_refused_by_the_model_and_a_cel_rule() -> None:
    with pytest.raises(ValidationError, match="exceeds maxReplicas"):
        WorkerPoolSpec.model_validate({"queue": "q", "deployment": "d", "minReplicas": 12})
    rules = openapi(POOL_CRD)["properties"]["spec"]["x-kubernetes-validations"]
    assert "self.minReplicas" in rules[0]["rule"]
    assert ": 10)" in rules[0]["rule"]  # the model's default max is what CEL assumes


def test_status_models_match_the_status_schemas() -> None:
    workflow_status = openapi(WORKFLOW_CRD)["properties"]["status"]["properties"]
    assert set(workflow_status) == {
        f.alias or name for name, f in WorkflowStatus.model_fields.items()
    }
    pool_status = openapi(POOL_CRD)["properties"]["status"]["properties"]
    assert set(pool_status) == {
        f.alias or name for name, f in WorkerPoolStatus.model_fields.items()
    }
