"""Tideflow tracing: the OpenTelemetry SDK configured by `OTEL_*` variables (off when they
ask for nothing), trace context for messages, trace and run ids for logs.

Adapters and services use it; the pure core never does (tests/architecture/test_layers.py).
"""

from tideflow.telemetry._context import (
    TRACER,
    bound_run,
    context_from,
    current_run_id,
    current_traceparent,
    span_context_from,
    traceparent_of,
    tracer,
)
from tideflow.telemetry._exporters import JsonLinesSpanExporter
from tideflow.telemetry._logs import TraceLogFilter
from tideflow.telemetry._setup import (
    TRACES_FILE,
    TelemetryConfigError,
    configure_tracing,
    shutdown_tracing,
    tracing_enabled,
    tracing_requested,
)

__all__ = [
    "TRACER",
    "TRACES_FILE",
    "JsonLinesSpanExporter",
    "TelemetryConfigError",
    "TraceLogFilter",
    "bound_run",
    "configure_tracing",
    "context_from",
    "current_run_id",
    "current_traceparent",
    "shutdown_tracing",
    "span_context_from",
    "traceparent_of",
    "tracer",
    "tracing_enabled",
    "tracing_requested",
]
