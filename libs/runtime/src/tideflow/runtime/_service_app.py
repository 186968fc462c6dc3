"""The FastAPI app of a service with an API of its own (approval, trigger, collab).

Each is built the same way: the shared error document, the caller's authenticator (and the
tenant's request gate) in the app state, request latency by route and server spans, and
`/metrics` rendering the app's registry with the process-wide one. One builder keeps them
alike; a service only says what it is and installs its routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tideflow.runtime._api import install_error_handlers
from tideflow.runtime._body_cap import BodyCap
from tideflow.runtime._http_metrics import HttpMetrics, RequestTimer
from tideflow.runtime._tracing import instrument_fastapi

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from fastapi import Request


def service_app(
    *,
    service: str,
    title: str,
    summary: str,
    authenticator: Any,
    install: Callable[[FastAPI], None],
    unavailable: tuple[type[Exception], ...] = (),
    statuses: Mapping[type[Exception], tuple[int, str]] | None = None,
    request_gate: Any = None,
    max_body_bytes: int | None = None,
) -> FastAPI:
    """The app of `service`: errors, `state.authenticator` (and `state.request_gate`),
    `install(app)` for its routes, then request timing and tracing around all of them;
    bodies over `max_body_bytes` are refused (413) before they are read whole."""
    app = FastAPI(title=title, version="1", summary=summary, redoc_url=None)
    install_error_handlers(app, unavailable=unavailable, statuses=statuses)
    app.state.authenticator = authenticator
    if request_gate is not None:  # every authenticated request takes a tenant API token
        app.state.request_gate = request_gate
    app.state.http_metrics = HttpMetrics(service)
    install(app)
    if max_body_bytes is not None:
        app.add_middleware(BodyCap, limit=max_body_bytes)
    app.add_middleware(RequestTimer, metrics=app.state.http_metrics)
    instrument_fastapi(app)
    return app


def metrics_response(request: Request) -> Response:
    """Prometheus exposition: the app's HTTP metrics and the process-wide registry."""
    http: HttpMetrics | None = getattr(request.app.state, "http_metrics", None)
    body = http.render() if http is not None else generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
