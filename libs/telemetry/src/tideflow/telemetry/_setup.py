"""The OpenTelemetry SDK, configured by the standard `OTEL_*` variables, or nothing at all.

Tracing is on when an exporter is asked for: `OTEL_TRACES_EXPORTER` names one (`otlp`,
`console`, or our `jsonl` file exporter) or an OTLP endpoint is set
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). Otherwise no SDK is
installed: the API's no-op tracer answers every call, and the services skip their own
tracing work (`tracing_enabled()`), so an untraced deployment pays next to nothing.
`OTEL_SDK_DISABLED=true` turns it off whatever else is set.

Everything else is the SDK's own reading of the standard variables: OTLP endpoints,
headers, timeouts and compression (`OTEL_EXPORTER_OTLP_*`), the protocol
(`OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`: `http/protobuf`, the default, or `grpc`), the
sampler (`OTEL_TRACES_SAMPLER[_ARG]`), the batch processor (`OTEL_BSP_*`), and the
resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, which win over our defaults).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from tideflow.telemetry._exporters import JsonLinesSpanExporter

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.sdk.trace.export import SpanExporter

TRACES_FILE = "TIDEFLOW_TRACES_FILE"
"""Where the `jsonl` exporter appends spans, one JSON object per line."""


class TelemetryConfigError(ValueError):
    """The `OTEL_*` variables ask for something this build cannot do."""


def tracing_requested(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = _exporter_names(env)
    if names is not None:
        return bool(names) and names != ["none"]
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def tracing_enabled() -> bool:
    """Whether this process records spans (the SDK is installed)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def configure_tracing(*, service: str, env: Mapping[str, str] | None = None) -> bool:
    """Install the SDK as the process's tracer provider if the environment asks for it.

    Idempotent: a process that runs several services (`tide dev`) configures it once,
    under the first name. Returns whether tracing is on.
    """
    env = os.environ if env is None else env
    if tracing_enabled():
        return True
    if not tracing_requested(env):
        return False
    names = _exporter_names(env) or ["otlp"]
    exporters = [_exporter(name, env) for name in names if name != "none"]
    defaults = Resource.create(
        {"service.name": f"tideflow-{service}", "service.namespace": "tideflow"}
    )
    provider = TracerProvider(resource=defaults.merge(OTELResourceDetector().detect()))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True


def shutdown_tracing() -> None:
    """Flush and stop the exporters (also done at interpreter exit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def _exporter_names(env: Mapping[str, str]) -> list[str] | None:
    raw = env.get("OTEL_TRACES_EXPORTER")
    if raw is None or not raw.strip():
        return None
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def _exporter(name: str, env: Mapping[str, str]) -> SpanExporter:
    if name == "otlp":
        return _otlp(env)
    if name == "console":
        return ConsoleSpanExporter()
    if name == "jsonl":
        path = env.get(TRACES_FILE)
        if not path:
            raise TelemetryConfigError(f"OTEL_TRACES_EXPORTER=jsonl needs {TRACES_FILE}")
        return JsonLinesSpanExporter(path)
    raise TelemetryConfigError(
        f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console, jsonl, none)"
    )


def _otlp(env: Mapping[str, str]) -> SpanExporter:
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    # imported when chosen: the gRPC stack is heavy and most deployments use one protocol
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter()
    raise TelemetryConfigError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported (http/protobuf, grpc)"
    )
