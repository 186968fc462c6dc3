"""Tracing is configured by OTEL_* variables only, and is off (no SDK) when they are unset."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tideflow.telemetry import (
    JsonLinesSpanExporter,
    TelemetryConfigError,
    TraceLogFilter,
    bound_run,
    context_from,
    current_traceparent,
    tracing_requested,
)
from tideflow.telemetry._setup import _exporter

pytestmark = pytest.mark.unit

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("env", "requested"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_requested_only_by_an_exporter_or_endpoint(
    env: dict[str, str], requested: bool
) -> None:
    assert tracing_requested(env) is requested


def test_otlp_protocols_pick_their_exporter() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    assert isinstance(_exporter("otlp", {}), Http)
    assert isinstance(_exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}), Grpc)
    assert isinstance(
        _exporter(
            "otlp",
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
        ),
        Http,
    )
    with pytest.raises(TelemetryConfigError, match="http/json"):
        _exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    with pytest.raises(TelemetryConfigError, match="zipkin"):
        _exporter("zipkin", {})
    with pytest.raises(TelemetryConfigError, match="TIDEFLOW_TRACES_FILE"):
        _exporter("jsonl", {})


SCRIPT = """
import sys
from opentelemetry import trace
from tideflow.telemetry import configure_tracing, tracer, current_traceparent
on = configure_tracing(service="probe")
with tracer().start_as_current_span("probe") as span:
    span.set_attribute("tideflow.run_id", "r1")
    print(on, type(trace.get_tracer_provider()).__name__, current_traceparent() is not None)
"""


def run_probe(env: dict[str, str]) -> str:
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**clean, **env}, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip()


def test_unset_means_no_sdk_and_no_spans() -> None:
    assert run_probe({}) == "False ProxyTracerProvider False"


def test_the_jsonl_exporter_writes_the_spans_of_a_process(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    env = {
        "OTEL_TRACES_EXPORTER": "jsonl",
        "TIDEFLOW_TRACES_FILE": str(path),
        "OTEL_SERVICE_NAME": "custom-name",
    }
    assert run_probe(env) == "True TracerProvider True"
    (span,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert span["name"] == "probe"
    assert span["attributes"]["tideflow.run_id"] == "r1"
    assert span["resource"]["attributes"]["service.name"] == "custom-name"
    assert span["resource"]["attributes"]["service.namespace"] == "tideflow"


def test_the_exporter_appends_whole_lines(tmp_path: Path) -> None:
    provider = TracerProvider()
    exporter = JsonLinesSpanExporter(tmp_path / "s.jsonl")
    tracer = provider.get_tracer("t")
    spans = []
    for i in range(3):
        with tracer.start_as_current_span(f"s{i}") as span:
            spans.append(span)
    exporter.export(spans)  # type: ignore[arg-type]
    exporter.export(spans[:1])  # type: ignore[arg-type]
    names = [json.loads(line)["name"] for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert names == ["s0", "s1", "s2", "s0"]


def test_trace_context_round_trips_and_logs_carry_trace_and_run_ids() -> None:
    from opentelemetry import context as otel_context

    assert context_from(None) is None
    assert context_from("not-a-traceparent") is None
    context = context_from(TRACEPARENT, "vendor=1")
    assert context is not None
    token = otel_context.attach(context)
    try:
        assert current_traceparent() == (TRACEPARENT, "vendor=1")
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        with bound_run("run-7"):
            TraceLogFilter().filter(record)
    finally:
        otel_context.detach(token)
    assert record.trace_id == "0af7651916cd43dd8448eb211c80319c"  # type: ignore[attr-defined]
    assert record.span_id == "b7ad6b7169203331"  # type: ignore[attr-defined]
    assert record.run_id == "run-7"  # type: ignore[attr-defined]
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    TraceLogFilter().filter(outside)
    assert not hasattr(outside, "trace_id")
    assert not hasattr(outside, "run_id")
