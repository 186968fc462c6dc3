"""Trace and run ids on every log record, for JSON logs that join up with traces."""

from __future__ import annotations

import logging

from opentelemetry import trace

from tideflow.telemetry._context import current_run_id


class TraceLogFilter(logging.Filter):
    """Adds `trace_id`, `span_id` (inside a span) and `run_id` (inside `bound_run`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        run_id = current_run_id()
        if run_id is not None and not hasattr(record, "run_id"):
            record.run_id = run_id
        return True
