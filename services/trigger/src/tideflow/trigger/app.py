"""Trigger service wiring: webhooks API, cron loop, event subscriptions, serving them.

`create_app` returns the API alone (so `tide dev` can serve it on the gateway's port);
`run_trigger` runs the cron loop and the event source and, when asked, its own server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import FastAPI

from tideflow.auth import Authenticator, Forbidden, InvalidCredentials, RateLimited
from tideflow.bus import KafkaBus
from tideflow.plugins import NodeTypeRegistry, load_registry
from tideflow.runtime import (
    EmbeddedServer,
    install_api_error_handler,
    serve_api,
    service_app,
)
from tideflow.store import StoreUnavailable
from tideflow.trigger.cron import CronLoop
from tideflow.trigger.deferred import DeferredStarts
from tideflow.trigger.events import EventTriggers
from tideflow.trigger.handlers import Services, dev, hooks, operations, router
from tideflow.trigger.outbound import Dispatcher
from tideflow.trigger.secrets import EnvironmentSecrets, SecretSource
from tideflow.trigger.sources import BusEventSource, EventSource, KafkaEventSource
from tideflow.trigger.starting import Definitions
from tideflow.trigger.webhooks import Webhooks

if TYPE_CHECKING:
    from collections.abc import Callable

    from tideflow.auth import TenantQuotas
    from tideflow.bus import Bus
    from tideflow.store import TriggerStore
    from tideflow.trigger.settings import TriggerSettings

log = logging.getLogger(__name__)


def services_of(
    *,
    settings: TriggerSettings,
    store: TriggerStore,
    bus: Bus,
    secrets: SecretSource | None = None,
    dev_events: bool = False,
    node_types: NodeTypeRegistry | None = None,
    quotas: TenantQuotas | None = None,
) -> Services:
    """The routes' dependencies (webhook secrets from the environment by default; node
    types: the built-ins and the installed plugins; `quotas`: the tenants' rate limits,
    shared with the gateway, which every start path takes a run-start token from)."""
    types = (node_types or load_registry()).types
    webhooks = Webhooks(
        store=store,
        bus=bus,
        definitions=Definitions(store, types=types),
        secrets=secrets or EnvironmentSecrets(),
        tolerance=settings.signature_tolerance,
        outbox_claim=settings.outbox_claim,
        quotas=quotas,
        limits=settings.limits,
    )
    return Services(
        settings=settings,
        store=store,
        bus=bus,
        webhooks=webhooks,
        quotas=quotas,
        dev_events=dev_events,
    )


AUTH_STATUSES: dict[type[Exception], tuple[int, str]] = {
    InvalidCredentials: (401, "UNAUTHENTICATED"),
    Forbidden: (403, "FORBIDDEN"),
    RateLimited: (429, "RATE_LIMITED"),
}


def default_authenticator(settings: TriggerSettings) -> Authenticator:
    """The admin token alone; `tide serve trigger` passes one that knows users, API tokens
    and JWTs (the identity store and the signing keys)."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    return Authenticator(admin_token=token)


def install(app: FastAPI, services: Services, *, operational: bool = True) -> None:
    """Add the trigger routes (and /healthz, /readyz, /metrics) to `app`."""
    app.state.trigger_services = services
    install_api_error_handler(app)
    api_routes(app)
    if operational:
        app.include_router(operations)


def api_routes(app: FastAPI) -> None:
    """The routes clients call, at the platform's one API address (an ingress sends them
    here): what `install` serves and what the gateway's `/openapi.json` documents."""
    app.include_router(hooks)
    app.include_router(router)
    app.include_router(dev)


def create_app(services: Services, authenticator: Authenticator | None = None) -> FastAPI:
    """The trigger API on its own."""
    return service_app(
        service="trigger",
        title="Tideflow triggers",
        summary="Webhooks, cron schedules and event subscriptions that start runs.",
        authenticator=authenticator or default_authenticator(services.settings),
        install=lambda app: install(app, services),
        unavailable=(StoreUnavailable,),
        statuses=AUTH_STATUSES,
        request_gate=services.quotas.gate if services.quotas is not None else None,
        max_body_bytes=services.settings.max_body_bytes,
    )


def event_source(services: Services, triggers: EventTriggers) -> EventSource:
    """FastStream on Kafka when the bus is Kafka, else the process's own bus."""
    settings = services.settings
    if isinstance(services.bus, KafkaBus):
        return KafkaEventSource(
            bootstrap=settings.kafka.bootstrap, group=settings.event_group,
            triggers=triggers, refresh=settings.event_refresh,
            offset_reset=settings.event_offset_reset,
        )  # fmt: skip
    return BusEventSource(
        bus=services.bus, group=settings.event_group, triggers=triggers,
        refresh=settings.event_refresh,
    )  # fmt: skip


async def run_trigger(
    *,
    services: Services,
    stop: asyncio.Event,
    serve_http: bool = True,
    clock: Callable[[], datetime] | None = None,
    authenticator: Authenticator | None = None,
    on_started: Callable[[str], None] | None = None,
    dispatcher: Dispatcher | None = None,
) -> None:
    """Run cron, event subscriptions (and their deferred starts), the outbound webhook
    `dispatcher` (when given) and the API on settings.host:port until `stop`."""
    settings = services.settings
    definitions = services.webhooks.definitions  # one cache of parsed versions per process
    cron = CronLoop(
        store=services.store, bus=services.bus, definitions=definitions,
        poll=settings.cron_poll, batch=settings.cron_batch,
        outbox_claim=settings.outbox_claim, clock=clock or (lambda: datetime.now(UTC)),
        quotas=services.quotas,
    )  # fmt: skip
    triggers = EventTriggers(
        store=services.store, bus=services.bus, definitions=definitions,
        outbox_claim=settings.outbox_claim, quotas=services.quotas,
        limits=settings.limits, group=settings.event_group,
    )  # fmt: skip
    deferred = DeferredStarts(
        store=services.store, bus=services.bus, quotas=services.quotas,
        poll=settings.deferred_poll, outbox_claim=settings.outbox_claim,
    )  # fmt: skip
    source = event_source(services, triggers)
    services.subscribed = lambda: source.subscribed
    tasks = [
        asyncio.create_task(cron.run(stop), name="trigger-cron"),
        asyncio.create_task(source.run(stop), name="trigger-events"),
        asyncio.create_task(deferred.run(stop), name="trigger-deferred-starts"),
    ]
    if dispatcher is not None:
        tasks.append(asyncio.create_task(dispatcher.run(stop), name="trigger-deliveries"))
    services.ready.update({"cron": True, "events": True})
    server: EmbeddedServer | None = None
    serving: asyncio.Task[None] | None = None
    if serve_http:
        server, serving = await serve_api(
            create_app(services, authenticator),
            host=settings.host,
            port=settings.port,
            name="trigger service",
            on_started=on_started,
        )
    stopping = asyncio.create_task(stop.wait())
    try:
        waiting = {stopping, *tasks} | ({serving} if serving else set())
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in done - {stopping}:
            task.result()
    finally:
        stop.set()
        stopping.cancel()
        services.ready.update({"cron": False, "events": False})
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=15)
        log.info("trigger service stopped")
