"""The operator in the chart: its own account, exactly the operator's RBAC rules, its env."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.chart import RELEASE, REQUIRED, Rendered, render
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
    role = chart.named("ClusterRole", NAME)
    assert role["rules"] == [dict(rule) for rule in RULES]
    binding = chart.named("ClusterRoleBinding", NAME)
    assert binding["roleRef"]["name"] == NAME
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": NAME, "namespace": binding["subjects"][0]["namespace"]}
    ]


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
