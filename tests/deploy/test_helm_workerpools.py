"""The chart's custom resources: the CRDs it ships, the WorkerPools it renders, the examples.

Custom resources get no schema from kubernetes-validate, so they are validated with
jsonschema against the `openAPIV3Schema` of the CRDs in the chart's crds/ folder (the
copies of deploy/crds, test_helm_sync.py), strictly as `kubectl apply` would
(`tideflow.operator.crschema.resource_errors`: unknown fields refused, metadata checked as
an ObjectMeta). An autoscaled executor pool gets a WorkerPool that names its Deployment
and queue, and the Deployment leaves its replicas to the operator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tideflow.operator.crschema import resource_errors

from .chart import CHART, RELEASE, REQUIRED, SCENARIOS, Rendered, render, template

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    path
    for path in (ROOT / "examples").rglob("*.yaml")
    if (yaml.safe_load(path.read_text()) or {}).get("apiVersion") == "tideflow.io/v1"
)


def chart_crds() -> dict[str, dict[str, Any]]:
    """The chart's CRDs by kind."""
    found = {}
    for path in sorted((CHART / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        found[crd["spec"]["names"]["kind"]] = crd
    return found


def served_schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    return dict(version["schema"]["openAPIV3Schema"])


@pytest.fixture(scope="module")
def production(rendered: dict[str, Rendered]) -> Rendered:
    return rendered["production"]


def test_the_chart_ships_both_crds_valid_for_kubernetes() -> None:
    crds = chart_crds()
    assert set(crds) == {"Workflow", "WorkerPool", "KopfPeering", "ClusterKopfPeering"}
    for crd in crds.values():
        kubernetes_validate.validate(crd, "1.25.0", strict=True)
        jsonschema.Draft7Validator.check_schema(served_schema(crd))
    for kind in ("Workflow", "WorkerPool"):
        assert crds[kind]["spec"]["scope"] == "Namespaced"
        assert crds[kind]["spec"]["group"] == "tideflow.io"
    # kopf's peering objects (several operator replicas, one active)
    assert crds["KopfPeering"]["spec"]["scope"] == "Namespaced"
    assert crds["ClusterKopfPeering"]["spec"]["scope"] == "Cluster"
    assert {crds[k]["spec"]["group"] for k in ("KopfPeering", "ClusterKopfPeering")} == {"kopf.dev"}


def test_the_peering_objects_validate_against_the_chart_crds(
    rendered: dict[str, Rendered],
) -> None:
    crds = chart_crds()
    checked = 0
    for result in rendered.values():
        for document in result.documents:
            if document["apiVersion"] == "kopf.dev/v1":
                assert resource_errors(crds[document["kind"]], document) == []
                checked += 1
    assert checked


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_examples_validate_against_the_chart_crds(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    crd = chart_crds()[document["kind"]]
    jsonschema.validate(document, served_schema(crd))
    assert resource_errors(crd, document) == []


def test_a_broken_resource_is_refused() -> None:
    """The check above can fail: a WorkerPool without a queue, with an unknown field."""
    crd = chart_crds()["WorkerPool"]
    document = yaml.safe_load((ROOT / "examples" / "kubernetes" / "workerpool.yaml").read_text())
    del document["spec"]["queue"]
    document["spec"]["maxReplica"] = 3
    errors = resource_errors(crd, document)
    assert any("queue" in error for error in errors)
    assert any("maxReplica" in error for error in errors)


def test_autoscaled_pools_get_a_valid_worker_pool(production: Rendered) -> None:
    crds = chart_crds()
    pools = SCENARIOS["production"]["executor"]["pools"]
    scaled = {name for name, pool in pools.items() if pool.get("autoscaling", {}).get("enabled")}
    assert scaled
    resources = production.of_kind("WorkerPool")
    assert len(resources) == len(scaled)
    deployments = {d["metadata"]["name"]: d for d in production.of_kind("Deployment")}
    for resource in resources:
        assert resource_errors(crds["WorkerPool"], resource) == []
        spec = resource["spec"]
        deployment = deployments[spec["deployment"]]
        assert "replicas" not in deployment["spec"], "the operator owns the replicas"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert json.loads(env["TIDEFLOW_EXECUTOR_QUEUES"]) == [spec["queue"]]
        pool = spec["deployment"].removeprefix(f"{RELEASE}-tideflow-executor-")
        settings = dict(pools[pool]["autoscaling"])
        settings.pop("enabled")
        assert settings.items() <= spec.items()
    for name in set(pools) - scaled:
        deployment = deployments[f"{RELEASE}-tideflow-executor-{name}"]
        assert deployment["spec"]["replicas"] == pools[name]["replicas"]


def test_the_operator_may_scale_what_the_worker_pools_name(production: Rendered) -> None:
    (role,) = production.of_kind("ClusterRole")
    assert any(
        "apps" in rule["apiGroups"]
        and "deployments/scale" in rule["resources"]
        and {"get", "patch"} <= set(rule["verbs"])
        for rule in role["rules"]
    )
    assert any(
        "tideflow.io" in rule["apiGroups"] and "workerpools" in rule["resources"]
        for rule in role["rules"]
    )


def test_a_scaled_pool_has_one_queue(tmp_path: Path) -> None:
    values = {
        **REQUIRED,
        "executor": {"pools": {"mixed": {"queues": ["a", "b"], "autoscaling": {"enabled": True}}}},
    }
    result = template(tmp_path, values)
    assert result.returncode != 0
    assert "a scaled pool consumes exactly one queue (it has 2)" in result.stderr


def test_no_worker_pool_without_autoscaling(tmp_path: Path) -> None:
    assert not render(tmp_path, REQUIRED).of_kind("WorkerPool")
