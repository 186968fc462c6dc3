"""Every panel of every dashboard returns data from a real Prometheus scraping a real stack.

The stack (gateway, scheduler, executor on Kafka; see `stack.py`) ran runs that
succeeded after a retry and started child runs, runs that failed, and got one poison
message, while Prometheus (Debian `prometheus`) scraped every service each second. Each
panel's PromQL is evaluated through Prometheus' HTTP API with Grafana's variables
substituted the way Grafana does: `$__rate_interval` (here 5m, well over four scrape
intervals),
`$__range`, and the dashboard's template variables with the values their own queries
find (`label_values(...)`), so the drill-down is checked on the workflows that ran.
The alert rules are loaded by that Prometheus too and must evaluate without errors.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from .assets import dashboards, queries
from .stack import ObservedStack, Prometheus

pytestmark = pytest.mark.e2e

LABEL_VALUES = re.compile(r"^label_values\((?P<metric>[^,]+),\s*(?P<label>\w+)\)$")
BUILTINS = {"$__rate_interval": "5m", "$__range": "10m", "$__interval": "15s"}
"""Windows wide enough to hold the runs however slowly the other tests ran meanwhile."""


async def variables(board: dict[str, Any], prometheus: Prometheus) -> dict[str, str]:
    """Each template variable's value as Grafana would substitute it (all values)."""
    values: dict[str, str] = {}
    for variable in board["templating"]["list"]:
        name, kind = variable["name"], variable["type"]
        if kind == "constant":
            values[name] = str(variable["query"])
        elif kind == "query":
            query = variable["query"]
            expr = query["query"] if isinstance(query, dict) else query
            match = LABEL_VALUES.match(expr.strip())
            assert match, f"variable {name}: only label_values(metric, label) is used: {expr}"
            found = await prometheus.label_values(match["label"], match["metric"].strip())
            assert found, f"variable {name} has no values"
            # as Grafana's Prometheus data source escapes multi-values: regex-escaped, and
            # the backslashes doubled for the PromQL string
            values[name] = "|".join(re.escape(v).replace("\\", "\\\\") for v in found)
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    for builtin, value in BUILTINS.items():
        expr = expr.replace(builtin, value)
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


async def ready_for_rates(stack: ObservedStack) -> None:
    """Wait until every run's end was scraped, and scraped twice (`rate()` needs two
    samples; a series born with its final value shows no increase, only presence)."""
    prometheus = stack.prometheus
    ended = len(stack.ok_runs) * 2 + len(stack.failed_runs)  # each ok run has a child
    await prometheus.until(
        "sum(tideflow_runs_completed_total)",
        lambda r: bool(r) and float(r[0]["value"][1]) >= ended,
    )
    for metric in ("tideflow_runs_completed_total", "tideflow_dead_letters_total"):
        await prometheus.until(f"count(rate({metric}[5m]))", bool)


async def test_every_panel_query_returns_data(observed: ObservedStack) -> None:
    await ready_for_rates(observed)
    empty: list[str] = []
    checked = 0
    for file, board in dashboards().items():
        values = await variables(board, observed.prometheus)
        for title, expr in queries(board):
            result = await observed.prometheus.query(substitute(expr, values))
            checked += 1
            if not result:
                empty.append(f"{file} / {title}: {expr}")
    assert checked >= 40
    assert empty == []


async def test_the_drill_down_sees_each_workflow_that_ran(observed: ObservedStack) -> None:
    await ready_for_rates(observed)
    found = await observed.prometheus.label_values("workflow", "tideflow_runs_started_total")
    assert {"obs-ok", "obs-child", "obs-fail"} <= set(found)
    failed = await observed.prometheus.query(
        'sum by (workflow) (tideflow_runs_completed_total{status="failed"})'
    )
    assert {r["metric"]["workflow"]: float(r["value"][1]) for r in failed} == {
        "obs-fail": len(observed.failed_runs)
    }
    retries = await observed.prometheus.query("sum(tideflow_step_retries_total)")
    assert float(retries[0]["value"][1]) == len(observed.ok_runs)


async def test_the_alert_rules_evaluate_on_the_real_metrics(observed: ObservedStack) -> None:
    await ready_for_rates(observed)
    async with httpx.AsyncClient(base_url=observed.prometheus.url, timeout=10) as client:
        body = (await client.get("/api/v1/rules")).json()
    groups = body["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {group["name"] for group in groups} == {
        "tideflow-slo", "tideflow-runs", "tideflow-queues"
    }  # fmt: skip
    assert rules
    assert [r["name"] for r in rules if r["health"] == "err"] == []
    # the dead letter of the poison message makes its alert pending or firing
    async with httpx.AsyncClient(base_url=observed.prometheus.url, timeout=10) as client:
        alerts = (await client.get("/api/v1/alerts")).json()["data"]["alerts"]
    names = {a["labels"]["alertname"] for a in alerts}
    assert "TideflowDeadLettersGrowing" in names or await _eventually_alerting(observed)


async def _eventually_alerting(stack: ObservedStack) -> bool:
    await stack.prometheus.until('ALERTS{alertname="TideflowDeadLettersGrowing"}', bool, timeout=30)
    return True
