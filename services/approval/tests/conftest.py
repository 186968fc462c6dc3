"""An approval service on the real Kafka and Postgres, with the scheduler that runs the runs.

One stack per test module: a fresh database, topics under a prefix of their own, the
scheduler (which decides the runs and publishes their events) and the approval service's
inbox consumer, with its API reached in-process through httpx. Callers are told apart by
bearer tokens mapped to principals (users and roles arrive with the security work).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tideflow.approval.app import create_app, run_approval, services_of
from tideflow.approval.settings import ApprovalSettings
from tideflow.auth import Authenticator, InvalidCredentials, Principal, Role
from tideflow.bus import KafkaBus, Topics
from tideflow.core import StartRun, parse_definition
from tideflow.executor.app import run_executor
from tideflow.executor.settings import ExecutorSettings
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.sdk import TaskRegistry
from tideflow.store import APP_ROLE, PostgresApprovalStore, PostgresEventStore, RunRecord
from tideflow.store.testing import Databases, with_database
from tideflow.wire import command_envelope

TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}

PRINCIPALS = {
    "admin": Principal("admin", "default", Role.ADMIN),
    "alice": Principal("alice", "default", Role.APPROVER),
    "bob": Principal("bob", "default", Role.APPROVER),
    "carol": Principal("carol", "default", Role.APPROVER),
    "dave": Principal("dave", "default", Role.APPROVER),
    "eddie": Principal("eddie", "default", Role.EDITOR),
    "vera": Principal("vera", "default", Role.VIEWER),
    "mallory": Principal("mallory", "other", Role.ADMIN),
}


class StaticTokens(Authenticator):
    """`Bearer <name>` is the principal of that name (users without a user store)."""

    def __init__(self) -> None:
        super().__init__(admin_token="unused")

    async def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        found = PRINCIPALS.get(token) if scheme.lower() == "bearer" else None
        if found is None:
            raise InvalidCredentials("unknown token")
        return found


@dataclass
class Stack:
    store: PostgresEventStore
    approvals: PostgresApprovalStore
    bus: KafkaBus
    http: httpx.AsyncClient

    def as_user(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {name}"}

    async def publish(self, document: dict[str, Any]) -> None:
        name = document["metadata"]["name"]
        parse_definition(document)
        await self.store.create_workflow(name, name, document)
        await self.store.publish(name)

    async def start(self, workflow: str, run_input: Any = None) -> str:
        run_id = str(uuid.uuid4())
        version = await self.store.get_version(workflow)
        command = StartRun(
            command_id=f"{run_id}:start", run_id=run_id, workflow=workflow,
            version=version.version, definition=parse_definition(version.definition),
            input=run_input,
        )  # fmt: skip
        await self.bus.publish(
            self.bus.topics.runs, run_id, command_envelope(command, tenant_id="default")
        )
        return run_id

    async def wait_run(self, run_id: str, timeout: float = 30) -> RunRecord:
        deadline = time.monotonic() + timeout
        while True:
            try:
                record = await self.store.get_run(run_id)
            except Exception:
                record = None
            if record is not None and record.status in TERMINAL:
                return record
            assert time.monotonic() < deadline, f"run {run_id} did not end: {record}"
            await asyncio.sleep(0.05)

    async def pending_approval(self, run_id: str, timeout: float = 30) -> dict[str, Any]:
        """The run's approval, once the inbox has it."""
        deadline = time.monotonic() + timeout
        while True:
            response = await self.http.get(
                "/approvals", params={"runId": run_id}, headers=self.as_user("admin")
            )
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            if items:
                return dict(items[0])
            assert time.monotonic() < deadline, f"no approval appeared for run {run_id}"
            await asyncio.sleep(0.05)

    async def approval_where(
        self, approval_id: str, predicate: Any, timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = await self.http.get(
                f"/approvals/{approval_id}", headers=self.as_user("admin")
            )
            body = dict(response.json())
            if predicate(body):
                return body
            assert time.monotonic() < deadline, f"approval never matched: {body}"
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def dsn(databases: Databases, migrated_template: str) -> AsyncIterator[str]:
    name = await databases.create(template=migrated_template)
    yield with_database(databases.url, name)
    await databases.drop(name)


@pytest.fixture(scope="module")
async def stack(dsn: str, kafka_bootstrap: str) -> AsyncIterator[Stack]:
    prefix = f"ap{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(bootstrap_servers=kafka_bootstrap, topics=Topics(prefix=prefix))
    await bus.start()
    store = await PostgresEventStore.connect(dsn, max_size=6, role=APP_ROLE)
    approvals = await PostgresApprovalStore.connect(dsn, max_size=4, role=APP_ROLE)
    settings = ApprovalSettings()
    registry = TaskRegistry()

    @registry.task("book_order")
    def book_order(order: dict[str, Any]) -> dict[str, Any]:
        return {"booked": order["total"]}

    services = services_of(settings=settings, store=approvals, bus=bus, audit_log=store)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_scheduler(settings=SchedulerSettings(), store=store, bus=bus,
                                          stop=stop, serve_health=False)),
        asyncio.create_task(run_approval(services=services, stop=stop, serve_http=False)),
        asyncio.create_task(run_executor(settings=ExecutorSettings(), bus=bus, stop=stop,
                                         registry=registry, serve_health=False)),
    ]  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(services, StaticTokens()))
    http = httpx.AsyncClient(transport=transport, base_url="http://approval")
    try:
        yield Stack(store=store, approvals=approvals, bus=bus, http=http)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await http.aclose()
        await approvals.close()
        await store.close()
        await bus.close()
