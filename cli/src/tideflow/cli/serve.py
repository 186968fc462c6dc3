"""`tide serve <service>`: run one service on its own, against Postgres and Kafka."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Protocol

import typer

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable

    from tideflow.settings import DatabaseSettings, KafkaSettings, ObservabilitySettings


class Service(StrEnum):
    GATEWAY = "gateway"
    SCHEDULER = "scheduler"
    EXECUTOR = "executor"
    APPROVAL = "approval"
    TRIGGER = "trigger"
    COLLAB = "collab"
    OPERATOR = "operator"


def serve(
    service: Annotated[Service, typer.Argument(help="Which service to run.")],
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Executor: task queue(s).")
    ] = None,
    module: Annotated[
        list[str] | None,
        typer.Option("--module", "-m", help="Executor: module(s) with @task functions."),
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Executor: steps at once.")] = None,
) -> None:
    """Run one service in the foreground until SIGTERM or Ctrl-C (in-flight work finishes)."""
    overrides: dict[str, object] = {
        k: v for k, v in {"host": host, "port": port}.items() if v is not None
    }
    if service is Service.GATEWAY:
        _gateway(overrides)
    elif service is Service.SCHEDULER:
        _scheduler(overrides)
    elif service is Service.APPROVAL:
        _approval(overrides)
    elif service is Service.TRIGGER:
        _trigger(overrides)
    elif service is Service.COLLAB:
        _collab(overrides)
    elif service is Service.OPERATOR:
        _operator(overrides)
    else:
        if queue:
            overrides["queues"] = queue
        if module:
            overrides["modules"] = module
        if concurrency:
            overrides["concurrency"] = concurrency
        _executor(overrides)


def _gateway(overrides: dict[str, object]) -> None:
    from functools import partial

    from tideflow.cli._services import peer_routes
    from tideflow.gateway.app import run_gateway
    from tideflow.gateway.settings import GatewaySettings

    settings = GatewaySettings(**overrides)  # type: ignore[arg-type]
    # one API document for the whole address: approvals, hooks, triggers and collab too
    _serve_on_store_and_bus("gateway", settings, partial(run_gateway, peers=peer_routes()))


def _scheduler(overrides: dict[str, object]) -> None:
    from tideflow.scheduler.app import run_scheduler
    from tideflow.scheduler.settings import SchedulerSettings

    settings = SchedulerSettings(**overrides)  # type: ignore[arg-type]
    _serve_on_store_and_bus("scheduler", settings, run_scheduler)


class _StoreAndBusSettings(Protocol):
    @property
    def database(self) -> DatabaseSettings: ...
    @property
    def kafka(self) -> KafkaSettings: ...
    @property
    def observability(self) -> ObservabilitySettings: ...


def _serve_on_store_and_bus(
    service: str, settings: _StoreAndBusSettings, run: Callable[..., Awaitable[None]]
) -> None:
    """A service that needs the event store and the bus: `run(settings, store, bus, stop)`."""
    from tideflow.cli._services import kafka_bus, postgres_store, run_until_signalled

    async def main(stop: asyncio.Event) -> None:
        async with postgres_store(settings.database) as store, kafka_bus(settings.kafka) as bus:
            await run(settings=settings, store=store, bus=bus, stop=stop)

    run_until_signalled(main, settings.observability, service=service)


def _executor(overrides: dict[str, object]) -> None:
    from tideflow.cli._services import kafka_bus, postgres_store, run_until_signalled
    from tideflow.executor.app import run_executor
    from tideflow.executor.settings import ExecutorSettings
    from tideflow.gateway.security import stored_secrets
    from tideflow.sdk import (
        DuplicateTaskError,
        TaskModuleImportError,
        TaskModuleNotFoundError,
        TaskRegistry,
    )

    settings = ExecutorSettings(**overrides)  # type: ignore[arg-type]
    try:  # before connecting to anything: a typo in -m is one line, not a traceback
        TaskRegistry.load_modules(settings.modules)
    except TaskModuleNotFoundError as e:
        typer.secho(f"error MODULE_NOT_FOUND: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    except TaskModuleImportError as e:
        typer.secho(f"error MODULE_FAILED: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    except DuplicateTaskError as e:
        typer.secho(f"error DUPLICATE_TASK: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None

    async def main(stop: asyncio.Event) -> None:
        # secrets of each run's tenant come from the envelope-encrypted store
        async with kafka_bus(settings.kafka) as bus, postgres_store(settings.database) as store:
            secrets = stored_secrets(settings.keys, store)
            await run_executor(settings=settings, bus=bus, stop=stop, secrets=secrets)

    run_until_signalled(main, settings.observability, service="executor")


def _approval(overrides: dict[str, object]) -> None:
    from tideflow.approval.app import run_approval, services_of
    from tideflow.approval.settings import ApprovalSettings
    from tideflow.cli._services import (
        approval_store,
        kafka_bus,
        postgres_store,
        run_until_signalled,
        service_authenticator,
        service_quotas,
    )

    settings = ApprovalSettings(**overrides)  # type: ignore[arg-type]

    async def main(stop: asyncio.Event) -> None:
        async with (
            approval_store(settings.database) as store,
            postgres_store(settings.database) as identities,
            kafka_bus(settings.kafka) as bus,
        ):
            quotas = service_quotas(settings.rate_limits, settings.redis, identities)
            services = services_of(
                settings=settings, store=store, bus=bus, audit_log=identities, quotas=quotas,
            )  # fmt: skip
            authenticator = service_authenticator(settings.admin_token, identities, quotas.limiter)
            await run_approval(services=services, stop=stop, authenticator=authenticator)

    run_until_signalled(main, settings.observability, service="approval")


def _trigger(overrides: dict[str, object]) -> None:
    from tideflow.cli._services import (
        kafka_bus,
        postgres_store,
        run_until_signalled,
        service_authenticator,
        service_quotas,
        trigger_store,
    )
    from tideflow.gateway.security import stored_secrets
    from tideflow.gateway.settings import SecuritySettings
    from tideflow.trigger.app import run_trigger, services_of
    from tideflow.trigger.outbound import Dispatcher, envelope_of, guarded_client, policy_of
    from tideflow.trigger.secrets import StoredSecrets
    from tideflow.trigger.settings import TriggerSettings

    settings = TriggerSettings(**overrides)  # type: ignore[arg-type]
    listeners = [settings.database.url, *settings.kafka.bootstrap.split(",")]

    async def main(stop: asyncio.Event) -> None:
        async with (
            trigger_store(settings.database) as store,
            postgres_store(settings.database) as identities,
            kafka_bus(settings.kafka) as bus,
            guarded_client(settings, listeners=listeners) as http,
        ):
            secrets = StoredSecrets(stored_secrets(SecuritySettings(), identities))
            quotas = service_quotas(settings.rate_limits, settings.redis, identities)
            services = services_of(
                settings=settings, store=store, bus=bus, secrets=secrets, quotas=quotas,
            )  # fmt: skip
            authenticator = service_authenticator(settings.admin_token, identities, quotas.limiter)
            dispatcher = (
                Dispatcher(store=identities, envelope=envelope_of(settings.keys), http=http,
                           policy=policy_of(settings))
                if settings.deliveries
                else None
            )  # fmt: skip
            await run_trigger(
                services=services, stop=stop, authenticator=authenticator, dispatcher=dispatcher
            )

    run_until_signalled(main, settings.observability, service="trigger")


def _collab(overrides: dict[str, object]) -> None:
    from tideflow.cli._services import (
        collab_store,
        postgres_store,
        run_until_signalled,
        service_authenticator,
    )
    from tideflow.collab.app import collab_services, password_limiter, run_collab
    from tideflow.collab.settings import CollabSettings

    settings = CollabSettings(**overrides)  # type: ignore[arg-type]

    async def main(stop: asyncio.Event) -> None:
        async with (
            collab_store(settings.database) as store,
            postgres_store(settings.database) as workflows,
            collab_services(
                settings=settings, store=store, workflows=workflows, audit_log=workflows
            ) as services,
        ):
            limiter = password_limiter(settings)
            authenticator = service_authenticator(settings.admin_token, workflows, limiter)
            await run_collab(services=services, stop=stop, authenticator=authenticator)

    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        run_until_signalled(main, settings.observability, service="collab")
    except RedisConnectionError as e:  # replicas meet on Redis (fanout: redis)
        typer.secho(
            f"error REDIS_UNAVAILABLE: {e}; start it (`tide infra up`) or point "
            "TIDEFLOW_REDIS_URL at a running one; a single replica needs no Redis: "
            "TIDEFLOW_COLLAB_FANOUT=none",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(code=1) from e


def _operator(overrides: dict[str, object]) -> None:
    from tideflow.cli._services import run_until_signalled
    from tideflow.operator.app import run_operator
    from tideflow.operator.kube import KubernetesUnavailableError
    from tideflow.operator.lag import LagUnavailableError
    from tideflow.operator.settings import OperatorSettings

    settings = OperatorSettings(**overrides)  # type: ignore[arg-type]

    async def main(stop: asyncio.Event) -> None:
        await run_operator(settings=settings, stop=stop)

    try:
        run_until_signalled(main, settings.observability, service="operator")
    except (LagUnavailableError, KubernetesUnavailableError) as e:
        code = "KAFKA_UNAVAILABLE" if isinstance(e, LagUnavailableError) else "NO_KUBERNETES"
        typer.secho(f"error {code}: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e
