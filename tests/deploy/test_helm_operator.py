"""The operator in the chart: its own account, exactly the operator's RBAC rules, its env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.chart import NAMESPACE, RELEASE, REQUIRED, Rendered, render, template
from tideflow.operator.rbac import RULES
from tideflow.operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

NAME = f"{RELEASE}-tideflow-operator"
SCENARIO: dict[str, Any] = {
    **REQUIRED,
    "auth": {"adminToken": "a-long-admin-token"},
    "operator": {
        "namespaces": ["team-a", "team-b"],
        "token": {"existingSecret": "operator-token", "existingSecretKey": "token"},
    },
}


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render(tmp_path_factory.mktemp("operator"), SCENARIO)


def test_the_cluster_role_is_the_operators_rules(chart: Rendered) -> None:
    (role,) = chart.of_kind("ClusterRole")
    assert role["rules"] == [dict(rule) for rule in RULES]
    # cluster-scoped names carry the namespace, so two releases of one name do not clash
    assert role["metadata"]["name"] == f"{NAMESPACE}-{NAME}"
    # watching some namespaces: bound in those only, nothing cluster-wide
    assert not chart.of_kind("ClusterRoleBinding")
    bindings = chart.of_kind("RoleBinding")
    assert {b["metadata"]["namespace"] for b in bindings} == set(SCENARIO["operator"]["namespaces"])
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}
        ]


def test_watching_every_namespace_binds_cluster_wide(tmp_path: Path) -> None:
    chart = render(tmp_path, {**REQUIRED, "operator": {"namespaces": []}})
    (role,) = chart.of_kind("ClusterRole")
    (binding,) = chart.of_kind("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    assert not chart.of_kind("RoleBinding")


def test_a_scaled_pool_outside_the_watched_namespaces_is_refused(tmp_path: Path) -> None:
    values = {
        **REQUIRED,
        "operator": {"namespaces": ["team-a"]},
        "executor": {"pools": {"default": {"autoscaling": {"enabled": True}}}},
    }
    result = template(tmp_path, values)
    assert result.returncode != 0
    assert f"operator.namespaces must include the release namespace {NAMESPACE}" in result.stderr


def test_the_operator_runs_once_under_its_own_account(chart: Rendered) -> None:
    deployment = chart.named("Deployment", NAME)
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == NAME
    assert pod["automountServiceAccountToken"] is True
    assert NAME in chart.names("ServiceAccount")
    (container,) = pod["containers"]
    assert container["command"] == ["tide", "serve", "operator"]
    env = {item["name"]: item for item in container["env"]}
    assert env["TIDEFLOW_OPERATOR_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "operator-token",
        "key": "token",
    }
    assert env["TIDEFLOW_OPERATOR_NAMESPACES"]["value"] == "team-a,team-b"
    gateway = chart.named("Service", f"{RELEASE}-tideflow-gateway")
    assert env["TIDEFLOW_OPERATOR_GATEWAY_URL"]["value"].endswith(
        f":{gateway['spec']['ports'][0]['port']}"
    )
    settings = OperatorSettings.model_validate({
        "namespaces": env["TIDEFLOW_OPERATOR_NAMESPACES"]["value"],
        "port": env["TIDEFLOW_OPERATOR_PORT"]["value"],
    })  # fmt: skip
    assert settings.namespaces == ["team-a", "team-b"]
    assert container["ports"][0]["containerPort"] == settings.port


def _operator_env(chart: Rendered) -> dict[str, Any]:
    deployment = chart.named("Deployment", NAME)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item for item in container["env"]}


def test_replicas_elect_one_operator_through_a_peering_per_watched_namespace(
    chart: Rendered,
) -> None:
    peerings = chart.of_kind("KopfPeering")
    assert {p["metadata"]["namespace"] for p in peerings} == set(SCENARIO["operator"]["namespaces"])
    assert {p["metadata"]["name"] for p in peerings} == {NAME}
    assert not chart.of_kind("ClusterKopfPeering")
    env = _operator_env(chart)
    assert env["TIDEFLOW_OPERATOR_PEERING"]["value"] == NAME
    settings = OperatorSettings.model_validate({
        "peering": env["TIDEFLOW_OPERATOR_PEERING"]["value"],
        "peering_lifetime": env["TIDEFLOW_OPERATOR_PEERING_LIFETIME"]["value"],
    })  # fmt: skip
    assert settings.peering_lifetime.total_seconds() == 60


def test_watching_every_namespace_peers_cluster_wide_and_scales_out(tmp_path: Path) -> None:
    chart = render(tmp_path, {**REQUIRED, "operator": {"namespaces": [], "replicas": 2}})
    (peering,) = chart.of_kind("ClusterKopfPeering")
    assert peering["metadata"]["name"] == f"{NAMESPACE}-{NAME}"
    assert _operator_env(chart)["TIDEFLOW_OPERATOR_PEERING"]["value"] == f"{NAMESPACE}-{NAME}"
    assert chart.named("Deployment", NAME)["spec"]["replicas"] == 2
    assert NAME in chart.names("PodDisruptionBudget")


def test_several_replicas_without_peering_are_refused(tmp_path: Path) -> None:
    values = {**REQUIRED, "operator": {"replicas": 2, "peering": {"enabled": False}}}
    result = template(tmp_path, values)
    assert result.returncode != 0
    assert "operator.replicas > 1 needs operator.peering.enabled" in result.stderr


def test_standalone_when_peering_is_off(tmp_path: Path) -> None:
    chart = render(tmp_path, {**REQUIRED, "operator": {"peering": {"enabled": False}}})
    assert not chart.of_kind("ClusterKopfPeering")
    assert not chart.of_kind("KopfPeering")
    assert "TIDEFLOW_OPERATOR_PEERING" not in _operator_env(chart)
