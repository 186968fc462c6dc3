"""An in-process engine (scheduler + executor) on a real Postgres, for engine tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tideflow.bus import InMemoryBus
from tideflow.executor.app import run_executor
from tideflow.executor.settings import ExecutorSettings
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
