"""Reading the shipped observability assets: dashboards, their queries, the alert rules."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy/grafana/dashboards"
RULES = ROOT / "deploy/prometheus/tideflow-rules.yml"
PROMETHEUS_RULE = ROOT / "deploy/prometheus/tideflow-rules.prometheusrule.yaml"
DASHBOARD_FILES = ("tideflow-overview.json", "tideflow-workflow.json", "tideflow-workers.json")
"""Stable names: the Helm chart copies these files."""

METRIC = re.compile(r"\btideflow_[a-z0-9_]+\b")


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in board.get("panels", []):
        found.extend(panel.get("panels", []))
        if panel.get("type") != "row":
            found.append(panel)
    return found


def queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]


def rule_groups() -> list[dict[str, Any]]:
    return list(yaml.safe_load(RULES.read_text())["groups"])


def rule_expressions() -> list[tuple[str, str]]:
    return [
        (rule.get("alert") or rule["record"], rule["expr"])
        for group in rule_groups()
        for rule in group["rules"]
    ]


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads, as exported (histogram series without suffix);
    recording rules (`tideflow:...`) are not metrics of ours."""
    names = set()
    for found in METRIC.findall(expr):
        name = found
        for suffix in ("_bucket", "_count", "_sum"):
            if found.endswith(suffix):
                name = found.removesuffix(suffix)
                break
        names.add(name)
    return names


def exported_metric_names() -> set[str]:
    """Every metric name the code defines (the first argument of each metric)."""
    pattern = re.compile(
        r"(?:Counter|Gauge|Histogram|Summary|GaugeMetricFamily)\(\s*\"(tideflow_[a-z0-9_]+)\""
    )
    names: set[str] = set()
    for folder in ("libs", "services"):
        for path in (ROOT / folder).glob("*/src/**/*.py"):
            names.update(pattern.findall(path.read_text()))
    return names
