"""The gateway's wiring: routers, error contract, auth, metrics, and serving it.

`create_app` takes the store and bus it is given (the CLI's `tide serve gateway` and
`tide dev` create them), so the same app runs on Postgres + Kafka in production, on
embedded Postgres + the in-process bus in `tide dev`, and on test doubles nowhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from functools import partial

import httpx
import uvicorn
from fastapi import FastAPI

from tideflow.auth import Principal, TenantQuotas
from tideflow.bus import Bus
from tideflow.gateway import (
    audit_routes,
    catalog,
    credentials,
    forward,
    health,
    runs,
    schemas,
    secret_routes,
    streams,
    subscriptions,
    tenants,
    ui,
    workflows,
)
from tideflow.gateway.api_document import include_peers
from tideflow.gateway.auth import Authenticator
from tideflow.gateway.deps import Services
from tideflow.gateway.errors import install_error_handlers
from tideflow.gateway.limits import BodyLimit
from tideflow.gateway.metrics import GatewayMetrics
from tideflow.gateway.security import Security, build_security
from tideflow.gateway.settings import GatewaySettings
from tideflow.gateway.versions import VersionCache
from tideflow.plugins import NodeTypeRegistry, load_registry
from tideflow.runtime import (
    EmbeddedServer,
    JsonErrorHttpToolsProtocol,
    RequestTimer,
    instrument_fastapi,
)
from tideflow.store import EventStore

log = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": schemas.ErrorResponse, "description": description}
    for status, description in (
        (400, "Bad request (e.g. an invalid cursor)."),
        (401, "Missing or invalid bearer token."),
        (403, "The token's role does not allow this."),
        (404, "No such resource in the caller's tenant."),
        (409, "Conflicts with the resource's state."),
        (413, "Over a size limit (TIDEFLOW_LIMITS_*); `details` has the limit."),
        (415, "The body is not declared JSON; send `Content-Type: application/json`."),
        (422, "The request is not valid; `details.problems` lists why."),
        (429, "A rate limit is exhausted (`RATE_LIMITED`); retry after `Retry-After` s."),
        (500, "Internal error; logged, never a stack trace."),
        (503, "A backing system is unavailable; retry."),
    )
}


async def _api_rate(security: Security, principal: Principal) -> None:
    """The tenant's API rate limit for routes mounted from other services (`tide dev`)."""
    await security.check_rate(principal.tenant_id, "api")


def create_app(
    *,
    settings: GatewaySettings,
    store: EventStore,
    bus: Bus,
    authenticator: Authenticator | None = None,
    extend: Callable[[FastAPI], None] | None = None,
    node_types: NodeTypeRegistry | None = None,
    quotas: TenantQuotas | None = None,
    peers: Mapping[str, Callable[[FastAPI], None]] | None = None,
    forward_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The REST API over `store` and `bus` (both already started by the caller).

    `extend` adds other services' routes to the same app (`tide dev` serves the approval
    and trigger APIs on the gateway's port this way). `node_types` defaults to the
    built-ins plus every installed `tideflow.node_types` plugin. `quotas` (default: from
    `settings.security`) are the tenants' rate limits, shared with the services `tide dev`
    runs beside it. `peers` are the route installers (`api_routes`) of the services an
    ingress serves at this API's address: documented in `/openapi.json`, not served here.
    With `settings.trigger_url` the trigger management routes are forwarded there
    (`forward_transport`: how, for tests).
    """
    registry = node_types or load_registry()
    metrics = GatewayMetrics()
    app = FastAPI(
        title="Tideflow API",
        version="1",
        summary="Durable workflows: definitions, versions, runs, time travel and live streams.",
        openapi_url="/openapi.json",
        docs_url=None,  # served by `ui` from packaged Swagger UI files, not a CDN
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    security = build_security(settings, store, store, store, authenticator, quotas=quotas)
    app.state.authenticator = security.authenticator
    app.state.request_gate = partial(_api_rate, security)
    app.state.services = Services(
        settings=settings,
        store=store,
        bus=bus,
        authenticator=security.authenticator,
        security=security,
        metrics=metrics,
        node_types=registry,
        versions=VersionCache(types=registry.types),
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(workflows.router)
    app.include_router(runs.router)
    app.include_router(tenants.router)
    app.include_router(credentials.router)
    app.include_router(secret_routes.router)
    app.include_router(subscriptions.router)
    app.include_router(audit_routes.router)
    app.include_router(streams.router)
    if extend is not None:
        extend(app)
    if settings.trigger_url:
        forward.install(app, settings.trigger_url, forward_transport)
    app.include_router(catalog.router)
    app.include_router(ui.router)
    app.mount(ui.UI_PREFIX, ui.SinglePageApp(settings.ui_dir or ui.BUILT_UI), name="ui")
    app.add_middleware(BodyLimit, limits=settings.limits)
    app.add_middleware(RequestTimer, metrics=metrics)
    instrument_fastapi(app)
    include_peers(app, peers or {})
    return app


async def run_gateway(
    *,
    settings: GatewaySettings,
    store: EventStore,
    bus: Bus,
    stop: asyncio.Event,
    authenticator: Authenticator | None = None,
    on_started: Callable[[str], None] | None = None,
    extend: Callable[[FastAPI], None] | None = None,
    node_types: NodeTypeRegistry | None = None,
    quotas: TenantQuotas | None = None,
    peers: Mapping[str, Callable[[FastAPI], None]] | None = None,
) -> None:
    """Serve the API on `settings.host:port` until `stop` is set, then shut down cleanly.

    `on_started` gets the base URL once the socket is bound (with port 0, the real port).
    Live streams are told to end first, so shutdown never waits on an open stream.
    """
    app = create_app(
        settings=settings, store=store, bus=bus, authenticator=authenticator, extend=extend,
        node_types=node_types, quotas=quotas, peers=peers,
    )  # fmt: skip
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="off",
        http=JsonErrorHttpToolsProtocol,  # httptools (C): h11 (pure Python) cost ~0.3 ms a request
        ws="websockets-sansio",
        timeout_graceful_shutdown=5,
        # Longer than clients' own idle expiry (httpx: 5 s), so the server is never the one
        # closing a pooled connection just as a client sends on it (a ReadError for them).
        timeout_keep_alive=75,
    )
    server = EmbeddedServer(config)
    serving = await server.start_serving()
    url = f"http://{settings.host}:{server.bound_port}"
    log.info("gateway listening on %s", url)
    if on_started is not None:
        on_started(url)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        app.state.services.closing.set()
        server.should_exit = True
        await serving
        await app.state.services.drain()
        await forward.close(app)
