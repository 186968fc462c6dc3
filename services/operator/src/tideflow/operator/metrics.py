"""Prometheus metrics of the operator (served on its /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

POOL_LABELS = ("namespace", "pool", "queue")

POOL_LAG = Gauge(
    "tideflow_workerpool_lag", "Consumer-group lag of the pool's task topic.", POOL_LABELS
)
POOL_REPLICAS = Gauge(
    "tideflow_workerpool_replicas", "spec.replicas of the pool's Deployment.", POOL_LABELS
)
POOL_DESIRED = Gauge(
    "tideflow_workerpool_desired_replicas", "The scaler's last decision.", POOL_LABELS
)
POOL_SCALINGS = Counter(
    "tideflow_workerpool_scalings",
    "Replica changes applied to Deployments, by direction (up, down).",
    (*POOL_LABELS, "direction"),
)
POOL_LOOK_FAILURES = Counter(
    "tideflow_workerpool_look_failures",
    "Looks that could not decide (lag or Deployment unreadable, invalid spec), by reason.",
    ("namespace", "pool", "reason"),
)
WORKFLOW_RECONCILES = Counter(
    "tideflow_operator_workflow_reconciles",
    "Workflow resources reconciled with the gateway, by outcome (the Ready reason).",
    ("outcome",),
)
