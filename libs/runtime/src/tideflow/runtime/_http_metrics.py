"""HTTP latency by route template for every service with an API, in a registry per app.

A registry per app lets tests (and `tide dev`) build several apps in one process without
duplicate-metric errors; `/metrics` renders it together with the process-wide default
registry, so in `tide dev` one scrape also sees the scheduler and executor. The route is
the template (`/runs/{run_id}`), never the raw path, so the label set stays bounded.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HttpMetrics:
    """The app's own registry with its request-latency histogram."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "tideflow_http_request_duration_seconds",
            "HTTP request latency by service, route template, method and status.",
            ["service", "method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The exposition text of this app's registry and the process-wide one."""
        return generate_latest(self.registry) + generate_latest(REGISTRY)


class RequestTimer:
    """ASGI middleware recording each request's latency in `HttpMetrics`."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # `labels()` takes a lock and validates the label values on every call; the label
        # sets are few (routes x methods x statuses), so their children are kept here
        self._children: dict[tuple[str, str, int], Histogram] = {}

    def _observe(self, method: str, template: str, status: int, seconds: float) -> None:
        key = (method, template, status)
        child = self._children.get(key)
        if child is None:
            child = self.metrics.request_seconds.labels(
                self.metrics.service, method, template, str(status)
            )
            self._children[key] = child
        child.observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            self._observe(scope["method"], template, status, time.perf_counter() - started)
