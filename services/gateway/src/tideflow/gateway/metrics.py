"""The gateway's Prometheus metrics, in the app's own registry (see `HttpMetrics`)."""

from __future__ import annotations

from prometheus_client import Counter

from tideflow.runtime import HttpMetrics


class GatewayMetrics(HttpMetrics):
    def __init__(self) -> None:
        super().__init__("gateway")
        self.runs_started = Counter(
            "tideflow_gateway_runs_started_total",
            "Runs the API accepted (new runs and replays, not idempotent repeats).",
            ["kind"],
            registry=self.registry,
        )
