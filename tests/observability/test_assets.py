"""The dashboards and alert rules are well-formed, in sync, and read metrics that exist.

`promtool` (Debian `prometheus`, installed by scripts/install.sh --with-test-deps) checks
the rules as Prometheus will load them. Whether each panel's query returns data from a
real stack is tests/observability/test_prometheus.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from .assets import (
    DASHBOARD_FILES,
    PROMETHEUS_RULE,
    ROOT,
    RULES,
    dashboards,
    exported_metric_names,
    metric_names,
    panels,
    queries,
    rule_expressions,
)

pytestmark = pytest.mark.unit


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)


def test_promtool_accepts_the_rules_file() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_prometheus_rule_manifest_holds_the_same_rules(tmp_path: Path) -> None:
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"]["name"] == "tideflow"
    assert manifest["spec"] == yaml.safe_load(RULES.read_text())
    extracted = tmp_path / "spec.yml"
    extracted.write_text(yaml.safe_dump(manifest["spec"]))
    result = promtool("check", "rules", str(extracted))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_compose_prometheus_config() -> None:
    result = promtool("check", "config", str(ROOT / "deploy/prometheus/prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_cover_what_operators_page_on() -> None:
    alerts = {name for name, _ in rule_expressions() if name.startswith("Tideflow")}
    assert {
        "TideflowRunsStuck",
        "TideflowRunsNotStarting",
        "TideflowDeadLettersGrowing",
        "TideflowConsumerLagHigh",
        "TideflowErrorBudgetFastBurn",
        "TideflowErrorBudgetSlowBurn",
    } <= alerts


def test_the_dashboards_ship_under_stable_names_with_unique_uids() -> None:
    boards = dashboards()
    assert tuple(sorted(boards)) == tuple(sorted(DASHBOARD_FILES))
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, board in boards.items():
        assert board["uid"] == name.removesuffix(".json")
        assert board["title"].startswith("Tideflow / ")
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        for panel in panels(board):
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids)


def test_the_workflow_dashboard_drills_down_by_a_workflow_variable() -> None:
    board = dashboards()["tideflow-workflow.json"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert "label_values(" in variables["workflow"]["query"]["query"]
    for title, expr in queries(board):
        assert 'workflow=~"$workflow"' in expr, title


def test_the_overview_shows_percentiles_error_rate_and_budget_burn() -> None:
    exprs = " ".join(expr for _, expr in queries(dashboards()["tideflow-overview.json"]))
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in exprs
    assert "(1 - $slo)" in exprs
    assert 'status=~"failed|compensated"' in exprs


def test_every_queried_metric_is_exported_by_the_code() -> None:
    exported = exported_metric_names()
    assert "tideflow_consumer_lag_messages" in exported
    used = {
        (where, name)
        for board in dashboards().values()
        for where, expr in queries(board)
        for name in metric_names(expr)
    } | {(where, name) for where, expr in rule_expressions() for name in metric_names(expr)}
    assert used
    missing = sorted((where, name) for where, name in used if name not in exported)
    assert missing == []


def test_compose_provisions_the_dashboards_and_rules() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]["volumes"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/tideflow.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in grafana
    prometheus = compose["services"]["prometheus"]["volumes"]
    assert any(v.startswith("./deploy/prometheus/tideflow-rules.yml:") for v in prometheus)
