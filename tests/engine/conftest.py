"""An in-process engine (scheduler + executor) on a real Postgres, for engine tests; and
the same with the gateway serving it on a real socket (`serving_platform`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tideflow.bus import InMemoryBus
from tideflow.executor.app import run_executor
from tideflow.executor.settings import ExecutorSettings
from tideflow.gateway import GatewaySettings, run_gateway
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.sdk import TaskRegistry
from tideflow.store import APP_ROLE, PostgresEventStore

from ..harness import Client


@dataclass
class Engine(Client):
    """A client of an in-process engine, with the registry its executor calls."""

    registry: TaskRegistry = field(default_factory=TaskRegistry)


@pytest.fixture
async def engine(fresh_dsn: str) -> AsyncIterator[Engine]:
    store = await PostgresEventStore.connect(fresh_dsn, max_size=8, role=APP_ROLE)
    bus = InMemoryBus()
    await bus.start()
    registry = TaskRegistry()
    stop = asyncio.Event()
    services = [
        asyncio.create_task(run_scheduler(settings=SchedulerSettings(), store=store, bus=bus,
                                          stop=stop, serve_health=False)),
        asyncio.create_task(run_executor(settings=ExecutorSettings(queues=["default", "io"]),
                                         bus=bus, stop=stop, registry=registry,
                                         serve_health=False)),
    ]  # fmt: skip
    try:
        yield Engine(store=store, bus=bus, registry=registry)
    finally:
        stop.set()
        await asyncio.gather(*services, return_exceptions=True)
        await bus.close()
        await store.close()


@dataclass
class Platform:
    """A gateway (with the scheduler, and an executor when asked) serving at `url`."""

    url: str
    store: PostgresEventStore
    bus: InMemoryBus

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


@contextlib.asynccontextmanager
async def serving_platform(
    dsn: str,
    *,
    gateway: GatewaySettings,
    executor: ExecutorSettings | None = None,
    node_types: Any = None,
    secrets_of: Callable[[PostgresEventStore], Any] | None = None,
    **executor_wiring: Any,
) -> AsyncIterator[Platform]:
    """The scheduler and the gateway (port 0) in this process on one in-memory bus, plus an
    executor with `executor_wiring` (registry) when `executor` is given, reading its
    secrets from `secrets_of(store)` when that is given."""
    store = await PostgresEventStore.connect(dsn, max_size=8, role=APP_ROLE)
    bus = InMemoryBus()
    await bus.start()
    stop = asyncio.Event()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    plugins: dict[str, Any] = {} if node_types is None else {"node_types": node_types}
    services = [
        asyncio.create_task(run_scheduler(settings=SchedulerSettings(), store=store, bus=bus,
                                          stop=stop, serve_health=False, **plugins)),
        asyncio.create_task(run_gateway(settings=gateway, store=store, bus=bus, stop=stop,
                                        on_started=started.set_result, **plugins)),
    ]  # fmt: skip
    if secrets_of is not None:
        executor_wiring["secrets"] = secrets_of(store)
    if executor is not None:
        services.append(asyncio.create_task(run_executor(
            settings=executor, bus=bus, stop=stop, serve_health=False,
            **plugins, **executor_wiring,
        )))  # fmt: skip
    try:
        url = await asyncio.wait_for(started, 10)
        yield Platform(url=url, store=store, bus=bus)
    finally:
        stop.set()
        await asyncio.gather(*services, return_exceptions=True)
        await bus.close()
        await store.close()


def admin_gateway(token: str) -> GatewaySettings:
    """The gateway the platform tests use: port 0, an admin token, fast event streams."""
    return GatewaySettings(
        port=0, admin_token=token, stream_poll_interval=timedelta(milliseconds=20)
    )
