"""An in-process engine (scheduler + executor) on a real Postgres, for engine tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tideflow.bus import Bus, InMemoryBus
from tideflow.core import StartRun, parse_definition
from tideflow.executor.app import run_executor
from tideflow.executor.settings import ExecutorSettings
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.sdk import TaskRegistry
from tideflow.store import APP_ROLE, EventStore, PostgresEventStore, RunRecord
from tideflow.wire import command_envelope

TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}


@dataclass
class Engine:
    store: EventStore
    bus: Bus
    registry: TaskRegistry

    async def publish_workflow(self, document: dict[str, Any]) -> int:
        name = document["metadata"]["name"]
        parse_definition(document)
        await self.store.create_workflow(name, name, document)
        return (await self.store.publish(name)).version

    async def start(self, workflow: str, run_input: Any = None, run_id: str | None = None) -> str:
        run_id = run_id or str(uuid.uuid4())
        version = await self.store.get_version(workflow)
        command = StartRun(
            command_id=f"{run_id}:start", run_id=run_id, workflow=workflow,
            version=version.version, definition=parse_definition(version.definition),
            input=run_input,
        )  # fmt: skip
        envelope = command_envelope(command, tenant_id="default")
        await self.bus.publish(self.bus.topics.runs, run_id, envelope)
        return run_id

    async def wait(self, run_ids: list[str], timeout: float = 60) -> dict[str, RunRecord]:
        """Poll the runs projection until every run has ended."""
        deadline = time.monotonic() + timeout
        ended: dict[str, RunRecord] = {}
        while len(ended) < len(run_ids):
            for run_id in run_ids:
                if run_id in ended:
                    continue
                with contextlib.suppress(Exception):
                    record = await self.store.get_run(run_id)
                    if record.status in TERMINAL:
                        ended[run_id] = record
            if time.monotonic() > deadline:
                missing = [r for r in run_ids if r not in ended]
                raise AssertionError(f"{len(missing)} runs did not end, e.g. {missing[:3]}")
            await asyncio.sleep(0.05)
        return ended


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
