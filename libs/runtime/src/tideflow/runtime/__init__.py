"""Plumbing every service shares: health and metrics endpoints, JSON logs, clean shutdown,
and for HTTP services the error contract and cursors."""

from tideflow.runtime._api import (
    ApiError,
    cursor_time,
    decode_cursor,
    encode_cursor,
    error_body,
    install_api_error_handler,
    install_error_handlers,
)
from tideflow.runtime._causes import caused_by
from tideflow.runtime._event_loop import loop_factory
from tideflow.runtime._gc import tune_collector
from tideflow.runtime._health import EmbeddedServer, HealthServer, Readiness, health_app
from tideflow.runtime._http_metrics import HttpMetrics, RequestTimer
from tideflow.runtime._http_protocol import JsonErrorHttpToolsProtocol
from tideflow.runtime._logging import configure_logging
from tideflow.runtime._operations import (
    STORE_CHECK_TIMEOUT,
    Health,
    answers,
    operations_router,
    readiness_response,
)
from tideflow.runtime._service_app import metrics_response, service_app
from tideflow.runtime._serving import serve_api
from tideflow.runtime._shutdown import stop_on_signals
from tideflow.runtime._text import has_nul
from tideflow.runtime._tracing import instrument_fastapi

__all__ = [
    "STORE_CHECK_TIMEOUT",
    "ApiError",
    "EmbeddedServer",
    "Health",
    "HealthServer",
    "HttpMetrics",
    "JsonErrorHttpToolsProtocol",
    "Readiness",
    "RequestTimer",
    "answers",
    "caused_by",
    "configure_logging",
    "cursor_time",
    "decode_cursor",
    "encode_cursor",
    "error_body",
    "has_nul",
    "health_app",
    "install_api_error_handler",
    "install_error_handlers",
    "instrument_fastapi",
    "loop_factory",
    "metrics_response",
    "operations_router",
    "readiness_response",
    "serve_api",
    "service_app",
    "stop_on_signals",
    "tune_collector",
]
