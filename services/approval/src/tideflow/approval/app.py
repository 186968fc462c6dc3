"""Approval service wiring: the inbox consumer, the API, and serving them until stopped.

`create_app` returns the API alone (so `tide dev` can serve it on the gateway's port);
`run_approval` runs the event-stream consumer and, when asked, its own HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI

from tideflow.approval.handlers import Services, operations, router
from tideflow.approval.inbox import GROUP, InboxProjection
from tideflow.approval.retention import run_retention
from tideflow.approval.views import ErrorResponse
from tideflow.auth import Authenticator, Forbidden, InvalidCredentials, RateLimited
from tideflow.bus import BusConnectionError
from tideflow.runtime import (
    EmbeddedServer,
    caused_by,
    install_api_error_handler,
    serve_api,
    service_app,
)
from tideflow.store import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from tideflow.approval.settings import ApprovalSettings
    from tideflow.auth import TenantQuotas
    from tideflow.bus import Bus
    from tideflow.store import ApprovalStore, AuditLog

log = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Bad request (e.g. an invalid cursor)."),
        (401, "Missing or invalid bearer token."),
        (404, "No such approval in the caller's tenant."),
        (422, "The request is not valid."),
        (429, "The tenant's API rate limit is exhausted (`RATE_LIMITED`); see `Retry-After`."),
        (503, "The database is unavailable; retry."),
    )
}


AUTH_STATUSES: dict[type[Exception], tuple[int, str]] = {
    InvalidCredentials: (401, "UNAUTHENTICATED"),
    Forbidden: (403, "FORBIDDEN"),
    RateLimited: (429, "RATE_LIMITED"),
}


def services_of(
    *,
    settings: ApprovalSettings,
    store: ApprovalStore,
    bus: Bus,
    audit_log: AuditLog | None = None,
    quotas: TenantQuotas | None = None,
) -> Services:
    """The routes' dependencies (`audit_log` records every decision; `quotas`, the tenants'
    rate limits, shared with the gateway)."""
    return Services(settings=settings, store=store, bus=bus, audit_log=audit_log, quotas=quotas)


def default_authenticator(settings: ApprovalSettings) -> Authenticator:
    """The admin token alone; `tide serve approval` passes one that knows users, API tokens
    and JWTs (the identity store and the signing keys)."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    return Authenticator(admin_token=token)


def install(app: FastAPI, services: Services, *, operational: bool = True) -> None:
    """Add the approval routes (and /healthz, /readyz, /metrics) to `app`.

    The app's `state.authenticator` (a `tideflow.auth.Authenticator`) proves callers: the
    service's own, or the gateway's when `tide dev` serves both on one port.
    """
    app.state.approval_services = services
    install_api_error_handler(app)
    api_routes(app)
    if operational:
        app.include_router(operations)


def api_routes(app: FastAPI) -> None:
    """The routes clients call, at the platform's one API address (an ingress sends them
    here): what `install` serves and what the gateway's `/openapi.json` documents."""
    app.include_router(router, responses=ERRORS)


def create_app(services: Services, authenticator: Authenticator | None = None) -> FastAPI:
    """The approval API on its own."""
    return service_app(
        service="approval",
        title="Tideflow approvals",
        summary="The inbox of human approvals: who may decide, quorums, decisions.",
        authenticator=authenticator or default_authenticator(services.settings),
        install=lambda app: install(app, services),
        unavailable=(StoreUnavailable,),
        statuses=AUTH_STATUSES,
        request_gate=services.quotas.gate if services.quotas is not None else None,
        max_body_bytes=MAX_BODY_BYTES,
    )


MAX_BODY_BYTES = 64 * 1024
"""A decision is `{decision, comment}` with a comment of at most 10,000 characters."""


_OUTAGES = (StoreUnavailable, BusConnectionError, OSError)


def _outage(error: BaseException) -> bool:
    """The database or broker is away (also when wrapped): retried without bound, so an
    outage never dead-letters events; anything else is the event's own doing."""
    return caused_by(error, _OUTAGES)


async def run_inbox(services: Services, stop: asyncio.Event) -> None:
    """Follow the event stream into the inbox until `stop` (offsets after each write).

    An event the store refuses for good is dead-lettered after `inbox_max_attempts`
    failures, first of its batch and then alone, so it never stalls the inbox."""
    bus = services.bus
    await bus.ensure_topics([bus.topics.events, bus.topics.runs], partitions=_partitions(services))
    consumer = bus.consumer(
        [bus.topics.events], group=GROUP, max_batch=services.settings.events_batch
    )
    await consumer.start()
    services.ready["consumer"] = True
    try:
        settings = services.settings
        await consumer.run(
            InboxProjection(store=services.store), stop=stop,
            retry_delay=settings.inbox_retry_delay, max_attempts=settings.inbox_max_attempts,
            transient=_outage,
        )  # fmt: skip
    finally:
        services.ready["consumer"] = False
        await consumer.close()


def _partitions(services: Services) -> int:
    return services.settings.kafka.partitions


async def run_approval(
    *,
    services: Services,
    stop: asyncio.Event,
    serve_http: bool = True,
    authenticator: Authenticator | None = None,
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Run the inbox consumer (and the API on settings.host:port) until `stop` is set."""
    settings = services.settings
    inbox = asyncio.create_task(run_inbox(services, stop), name="approval-inbox")
    retention = asyncio.create_task(
        run_retention(services.store, retention=settings.retention,
                      every=settings.retention_every, stop=stop),
        name="approval-retention",
    )  # fmt: skip
    server: EmbeddedServer | None = None
    serving: asyncio.Task[None] | None = None
    if serve_http:
        server, serving = await serve_api(
            create_app(services, authenticator),
            host=settings.host,
            port=settings.port,
            name="approval service",
            on_started=on_started,
        )
    stopping = asyncio.create_task(stop.wait())
    try:
        waiting = {inbox, retention, stopping} | ({serving} if serving else set())
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in done - {stopping}:
            task.result()  # a part that died on its own takes the service down
    finally:
        stop.set()
        stopping.cancel()
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        for task in (inbox, retention):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        log.info("approval service stopped")
