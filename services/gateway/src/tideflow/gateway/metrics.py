"""The gateway's Prometheus metrics, in a registry of its own.

A registry per app lets tests (and `tide dev`) build several apps in one process without
duplicate-metric errors; `/metrics` renders it together with the process-wide default
registry, so in `tide dev` one scrape also sees the scheduler and executor.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs_started = Counter(
            "tideflow_gateway_runs_started_total",
            "Runs the API accepted (new runs and replays, not idempotent repeats).",
            ["kind"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "tideflow_gateway_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(REGISTRY)
