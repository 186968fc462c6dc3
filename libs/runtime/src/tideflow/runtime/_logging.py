"""Structured JSON logs on stderr, one object per line, for every service."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from tideflow.telemetry import TraceLogFilter


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Replace the root handlers: JSON lines in production, readable text for humans.

    JSON records carry `trace_id` and `span_id` when written inside a span and `run_id`
    when written while working on a run, so logs and traces of one run join up.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceLogFilter())
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
