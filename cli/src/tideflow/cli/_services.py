"""Building the adapters every service needs from settings: the store and the bus."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Protocol, TypeVar

import typer

from tideflow.bus import Bus, BusConnectionError, KafkaBus, Topics
from tideflow.runtime import configure_logging, loop_factory, stop_on_signals, tune_collector
from tideflow.store import (
    APP_ROLE,
    PostgresApprovalStore,
    PostgresCollabStore,
    PostgresEventStore,
    PostgresTriggerStore,
    StoreUnavailable,
)
from tideflow.store import migrate as apply_migrations
from tideflow.telemetry import TelemetryConfigError, configure_tracing

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from fastapi import FastAPI
    from pydantic import SecretStr

    from tideflow.auth import Authenticator, RateLimiter, TenantQuotas
    from tideflow.settings import (
        DatabaseSettings,
        KafkaSettings,
        ObservabilitySettings,
        RateLimitSettings,
        RedisSettings,
    )
    from tideflow.store import EventStore, Identities


@contextlib.asynccontextmanager
async def postgres_store(
    database: DatabaseSettings, *, migrate: bool = False
) -> AsyncIterator[PostgresEventStore]:
    """A pooled store logged in as the application role (no UPDATE/DELETE on the log)."""
    if migrate:
        await apply_migrations(database.url)
    store = await PostgresEventStore.connect(
        database.url,
        min_size=database.pool_min_size,
        max_size=database.pool_max_size,
        role=APP_ROLE,
    )
    try:
        yield store
    finally:
        await store.close()


class _Pooled(Protocol):
    async def close(self) -> None: ...


PooledT = TypeVar("PooledT", bound=_Pooled)


@contextlib.asynccontextmanager
async def _app_pool(
    connect: Callable[..., Awaitable[PooledT]], database: DatabaseSettings
) -> AsyncIterator[PooledT]:
    """A store of the smaller services: a small pool, logged in as the application role."""
    store = await connect(database.url, min_size=1, max_size=database.pool_max_size, role=APP_ROLE)
    try:
        yield store
    finally:
        await store.close()


def approval_store(
    database: DatabaseSettings,
) -> contextlib.AbstractAsyncContextManager[PostgresApprovalStore]:
    """The approval inbox, as the application role."""
    return _app_pool(PostgresApprovalStore.connect, database)


def collab_store(
    database: DatabaseSettings,
) -> contextlib.AbstractAsyncContextManager[PostgresCollabStore]:
    """The shared documents of the collaboration service, as the application role."""
    return _app_pool(PostgresCollabStore.connect, database)


def trigger_store(
    database: DatabaseSettings,
) -> contextlib.AbstractAsyncContextManager[PostgresTriggerStore]:
    """Trigger registrations and trigger-started runs, as the application role."""
    return _app_pool(PostgresTriggerStore.connect, database)


@contextlib.asynccontextmanager
async def kafka_bus(kafka: KafkaSettings) -> AsyncIterator[Bus]:
    bus = KafkaBus(
        bootstrap_servers=kafka.bootstrap,
        topics=Topics(prefix=kafka.topic_prefix),
        replication_factor=kafka.replication_factor,
        fetch_max_wait=kafka.fetch_max_wait,
    )
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


def run_until_signalled(
    main: Callable[[asyncio.Event], Awaitable[None]],
    observability: ObservabilitySettings,
    *,
    service: str,
) -> None:
    """Run a service's main coroutine; SIGTERM/SIGINT set its stop event.

    Kafka or Postgres being unreachable is something to fix outside, so it ends the
    process with one line that says what is missing, not a traceback.
    """
    configure_logging(level=observability.log_level, json=observability.log_json)
    tune_collector(observability.gc_thresholds)
    try:
        configure_tracing(service=service)
    except TelemetryConfigError as e:
        typer.secho(f"error TELEMETRY_CONFIG: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from e

    async def entry() -> None:
        await main(stop_on_signals())

    try:
        with asyncio.Runner(loop_factory=loop_factory(observability.event_loop)) as runner:
            runner.run(entry())
    except (BusConnectionError, StoreUnavailable) as e:
        hint = "start it (`tide infra up`) or point TIDEFLOW_KAFKA_BOOTSTRAP / "
        hint += "TIDEFLOW_DATABASE_URL at a running one"
        typer.secho(f"error {type(e).__name__}: {e}; {hint}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e


def peer_routes() -> dict[str, Callable[[FastAPI], None]]:
    """The client routes of the services an ingress serves at the gateway's address, for
    the gateway's one OpenAPI document (`tide dev` serves them on its port instead)."""
    from tideflow.approval.app import api_routes as approval_routes
    from tideflow.collab.app import api_routes as collab_routes
    from tideflow.trigger.app import api_routes as trigger_routes

    return {"approval": approval_routes, "trigger": trigger_routes, "collab": collab_routes}


def service_quotas(
    limits: RateLimitSettings, redis: RedisSettings, identities: Identities
) -> TenantQuotas:
    """The tenants' rate limits for the approval and trigger services: the gateway's
    (`TIDEFLOW_SECURITY_*` defaults, per-tenant limits from the store, the same Redis
    buckets), so a tenant has one API budget and one run-start budget across services."""
    from tideflow.gateway.security import tenant_quotas

    return tenant_quotas(limits, redis.url, identities)


def service_authenticator(
    admin_token: SecretStr | None, identities: EventStore, limiter: RateLimiter
) -> Authenticator:
    """What the approval, trigger and collaboration services prove callers with: the admin
    token, API tokens and users from the identity store, and JWTs signed by the gateway's
    keys (read from the same store, sealed with the key provider of `TIDEFLOW_SECURITY_*`).
    HTTP Basic passwords are treated as the gateway treats them: throttled per username
    in `limiter` (the login bucket) and a wrong one audited as `login.failed`."""
    from tideflow.auth import Authenticator, Envelope, KeyRing
    from tideflow.gateway.security import provider_of
    from tideflow.gateway.settings import SecuritySettings

    keys = KeyRing(identities, Envelope(provider_of(SecuritySettings())))
    authenticator = Authenticator(
        admin_token=admin_token.get_secret_value() if admin_token else None,
        identities=identities,
        keys=keys,
    )
    authenticator.guard_passwords(limiter, identities)
    return authenticator
