"""Trigger tests on the real Kafka and Postgres: one database per module, topics under a
prefix of their own, the scheduler that runs what triggers start, and the trigger API
reached in-process through httpx."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tideflow.auth import Authenticator
from tideflow.bus import KafkaBus, Topics
from tideflow.core import parse_definition
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.store import (
    APP_ROLE,
    PostgresEventStore,
    PostgresTriggerStore,
    RunFilter,
    RunRecord,
)
from tideflow.store.testing import Databases, with_database
from tideflow.trigger.app import create_app, services_of
from tideflow.trigger.handlers import Services
from tideflow.trigger.settings import TriggerSettings

TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}
TOKEN = "trigger-admin"


def workflow(name: str, triggers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A one-step workflow whose output is its input, with `triggers`."""
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {"triggers": triggers,
                 "nodes": [{"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}}],
                 "output": "{{ nodes.echo.output }}", **spec},
    }  # fmt: skip


@dataclass
class Stack:
    dsn: str
    store: PostgresEventStore
    triggers: PostgresTriggerStore
    bus: KafkaBus
    services: Services
    http: httpx.AsyncClient
    auth: dict[str, str]

    async def publish(self, document: dict[str, Any]) -> int:
        name = document["metadata"]["name"]
        parse_definition(document)
        try:
            await self.store.create_workflow(name, name, document)
        except Exception:
            await self.store.update_draft(name, document)
        return (await self.store.publish(name)).version

    async def runs_of(self, workflow_id: str) -> list[RunRecord]:
        """Every run of the workflow, oldest first."""
        page = await self.store.list_runs(RunFilter(workflow_id=workflow_id), limit=1000)
        return sorted(page.runs, key=lambda r: (r.started_at, r.run_id))

    async def until(self, probe: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await probe()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

    async def wait_run(self, run_id: str, timeout: float = 30) -> RunRecord:
        async def ended() -> RunRecord | None:
            record = await self.store.get_run(run_id)
            return record if record.status in TERMINAL else None

        result: RunRecord = await self.until(ended, f"run {run_id} to end", timeout)
        return result


@pytest.fixture(scope="module")
async def dsn(databases: Databases, migrated_template: str) -> AsyncIterator[str]:
    name = await databases.create(template=migrated_template)
    yield with_database(databases.url, name)
    await databases.drop(name)


@pytest.fixture(scope="module")
async def stack(dsn: str, kafka_bootstrap: str) -> AsyncIterator[Stack]:
    prefix = f"tr{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(bootstrap_servers=kafka_bootstrap, topics=Topics(prefix=prefix))
    await bus.start()
    store = await PostgresEventStore.connect(dsn, max_size=6, role=APP_ROLE)
    triggers = await PostgresTriggerStore.connect(dsn, max_size=6, role=APP_ROLE)
    services = services_of(settings=TriggerSettings(), store=triggers, bus=bus)
    stop = asyncio.Event()
    scheduler = asyncio.create_task(
        run_scheduler(settings=SchedulerSettings(), store=store, bus=bus, stop=stop,
                      serve_health=False)
    )  # fmt: skip
    app = create_app(services, Authenticator(admin_token=TOKEN))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://trigger")
    try:
        yield Stack(dsn=dsn, store=store, triggers=triggers, bus=bus, services=services,
                    http=http, auth={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    finally:
        stop.set()
        await asyncio.gather(scheduler, return_exceptions=True)
        await http.aclose()
        await triggers.close()
        await store.close()
        await bus.close()
