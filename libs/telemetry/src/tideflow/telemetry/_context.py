"""Trace context between OpenTelemetry and our messages, and the run a task works on.

Messages carry W3C `traceparent`/`tracestate` strings (the envelope's `trace` field,
mirrored in Kafka headers). These helpers turn the current span into those strings and
back, so the bus and the services never handle OpenTelemetry's context objects directly.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.context import Context

TRACER = "tideflow"
_PROPAGATOR = TraceContextTextMapPropagator()
_run_id: ContextVar[str | None] = ContextVar("tideflow_run_id", default=None)


def tracer() -> trace.Tracer:
    """The tracer of Tideflow's own spans (a no-op one until tracing is configured)."""
    return trace.get_tracer(TRACER)


def current_traceparent() -> tuple[str, str] | None:
    """The current span as (`traceparent`, `tracestate`), or None outside any trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    traceparent = carrier.get("traceparent")
    return (traceparent, carrier.get("tracestate", "")) if traceparent else None


def context_from(traceparent: str | None, tracestate: str = "") -> Context | None:
    """The OpenTelemetry context of a remote parent, or None when there is none (valid)."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    context = _PROPAGATOR.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def span_context_from(traceparent: str | None, tracestate: str = "") -> trace.SpanContext | None:
    """The remote span a `traceparent` names (for links), or None."""
    context = context_from(traceparent, tracestate)
    return None if context is None else trace.get_current_span(context).get_span_context()


def traceparent_of(span: trace.Span) -> str | None:
    """The `traceparent` that makes `span` the parent of what it is sent with."""
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


@contextlib.contextmanager
def bound_run(run_id: str | None) -> Iterator[None]:
    """Log records written inside carry `run_id` (see `TraceLogFilter`)."""
    token = _run_id.set(run_id)
    try:
        yield
    finally:
        _run_id.reset(token)


def current_run_id() -> str | None:
    return _run_id.get()
