"""Server spans for FastAPI apps, when tracing is on (nothing is added otherwise)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from tideflow.telemetry import tracing_enabled

if TYPE_CHECKING:
    from fastapi import FastAPI

EXCLUDED = r"/healthz,/readyz,/metrics,/collab/[^/]+$,/runs/[^/]+/logs$"
"""Probes and scrapes: frequent, uninteresting, and they would drown the real traffic.
And the WebSockets browsers open with `?token=` (they cannot set headers): the
collaboration rooms (`/collab/{workflow_id}`, on the gateway's port under `tide dev`) and
a run's log stream (`/runs/{run_id}/logs`). A span would last the whole session, with a
span per message, and record the URL with its token (OpenTelemetry redacts only a few
signature parameters)."""


def instrument_fastapi(app: FastAPI) -> bool:
    """Give every request a server span (route template as its name); W3C `traceparent`
    of the caller is honoured. Returns whether the app was instrumented."""
    if not tracing_enabled():
        return False
    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED)
    return True
