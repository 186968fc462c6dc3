"""Collaboration service wiring: rooms, the fan-out between replicas, the API, serving.

`install` adds the routes to an app (so `tide dev` serves them on the gateway's port);
`run_collab` runs the service with its own HTTP server until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI

from tideflow.auth import Authenticator, Forbidden, InvalidCredentials, RateLimited, rate_limiter
from tideflow.collab.fanout import Fanout, NoFanout, RedisFanout
from tideflow.collab.handlers import Services, operations, router
from tideflow.collab.rooms import Rooms
from tideflow.runtime import (
    install_api_error_handler,
    serve_api,
    service_app,
)
from tideflow.store import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from tideflow.auth import RateLimiter
    from tideflow.collab.settings import CollabSettings
    from tideflow.store import AuditLog, CollabStore, WorkflowStore

log = logging.getLogger(__name__)

AUTH_STATUSES: dict[type[Exception], tuple[int, str]] = {
    InvalidCredentials: (401, "UNAUTHENTICATED"),
    Forbidden: (403, "FORBIDDEN"),
    RateLimited: (429, "RATE_LIMITED"),
}


@contextlib.asynccontextmanager
async def collab_services(
    *,
    settings: CollabSettings,
    store: CollabStore,
    workflows: WorkflowStore,
    audit_log: AuditLog | None = None,
    fanout: Fanout | None = None,
) -> AsyncIterator[Services]:
    """The service's parts, started, and closed (rooms compacted) on the way out.

    Without a `fanout`, `settings.fanout` decides: Redis pub/sub (several replicas) or
    none (one process, as under `tide dev`).
    """
    redis: RedisFanout | None = None
    rooms: Rooms | None = None
    if fanout is None and settings.fanout == "redis":

        async def reconnected() -> None:
            if rooms is not None:
                await rooms.catch_up_all()

        redis = RedisFanout(settings.redis.url, on_reconnect=reconnected)
        await redis.start()
        fanout = redis
    rooms = Rooms(settings=settings, store=store, workflows=workflows, fanout=fanout or NoFanout())
    services = Services(settings=settings, rooms=rooms, audit_log=audit_log)
    try:
        yield services
    finally:
        await rooms.close()
        if redis is not None:
            await redis.close()


def password_limiter(settings: CollabSettings) -> RateLimiter:
    """The buckets of HTTP Basic password guesses (`CollabSettings.password_limiter`)."""
    return rate_limiter(settings.password_limiter, settings.redis.url)


def default_authenticator(settings: CollabSettings) -> Authenticator:
    """The admin token alone; `tide serve collab` passes one that knows users, API tokens
    and JWTs (the identity store and the signing keys)."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    return Authenticator(admin_token=token)


def install(app: FastAPI, services: Services, *, operational: bool = True) -> None:
    """Add the collaboration routes (and /healthz, /readyz, /metrics) to `app`.

    The app's `state.authenticator` proves callers: the service's own, or the gateway's
    when `tide dev` serves both on one port.
    """
    app.state.collab_services = services
    install_api_error_handler(app)
    api_routes(app)
    if operational:
        app.include_router(operations)


def api_routes(app: FastAPI) -> None:
    """The routes clients call, at the platform's one API address (an ingress sends them
    here): what `install` serves and what the gateway's `/openapi.json` documents."""
    app.include_router(router)


def create_app(services: Services, authenticator: Authenticator | None = None) -> FastAPI:
    """The collaboration service on its own."""
    # the room WebSockets are neither timed nor traced (a session is not a request)
    return service_app(
        service="collab",
        title="Tideflow collaboration",
        summary="Real-time co-editing of workflow drafts (Yjs over WebSocket).",
        authenticator=authenticator or default_authenticator(services.settings),
        install=lambda app: install(app, services),
        unavailable=(StoreUnavailable,),
        statuses=AUTH_STATUSES,
    )


async def run_collab(
    *,
    services: Services,
    stop: asyncio.Event,
    authenticator: Authenticator | None = None,
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Serve the rooms and the API on settings.host:port until `stop` is set."""
    settings = services.settings
    server, serving = await serve_api(
        create_app(services, authenticator),
        host=settings.host,
        port=settings.port,
        name="collaboration service",
        on_started=on_started,
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        stopping.cancel()
        server.should_exit = True
        await serving
        log.info("collaboration service stopped")
