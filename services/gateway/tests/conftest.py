"""Fixtures of the gateway tests: a real Postgres database per module, the in-process bus,
a gateway served on a real socket, and a stand-in for the scheduler.

A migrated template database is built once per session; each test module gets a copy
(`CREATE DATABASE ... TEMPLATE` of the root conftest's `migrated_template`). The
scheduler is simulated with the core's `LocalRun`: its events and projections are committed with
`store.commit_batch`, exactly as the real scheduler writes them, so reads, time travel and
streams are tested against real rows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tideflow.bus import InMemoryBus
from tideflow.core import Event, RunState, event_to_record
from tideflow.core.testing import LocalRun
from tideflow.gateway import Authenticator, GatewaySettings, Principal, Role, run_gateway
from tideflow.gateway.errors import ErrorCode
from tideflow.store import (
    APP_ROLE,
    CommitBatch,
    NewEvent,
    PostgresEventStore,
    RunAppend,
    RunRecord,
    StepRecord,
)
from tideflow.store.testing import Databases, with_database
from tideflow.wire import decode_command

TOKEN = "admin-secret"
VIEWER_TOKEN = "viewer-secret"


@pytest.fixture(scope="module")
async def dsn(databases: Databases, migrated_template: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test module."""
    name = await databases.create(template=migrated_template)
    yield with_database(databases.url, name)
    await databases.drop(name)


@pytest.fixture(scope="module")
async def store(dsn: str) -> AsyncIterator[PostgresEventStore]:
    """The Postgres store as the application role, as the service runs it."""
    pg = await PostgresEventStore.connect(dsn, max_size=8, role=APP_ROLE)
    yield pg
    await pg.close()


class RolesAuthenticator(Authenticator):
    """The admin token, plus a viewer token to test role checks (the security issue
    brings real JWT roles; routes only ever see a Principal)."""

    async def authenticate(self, authorization: str | None) -> Principal:
        if authorization == f"Bearer {VIEWER_TOKEN}":
            return Principal("viewer", "default", Role.VIEWER)
        if authorization == "Bearer other-tenant":
            return Principal("intruder", "other", Role.ADMIN)
        return await super().authenticate(authorization)


@dataclass
class Gateway:
    url: str
    client: httpx.AsyncClient
    bus: InMemoryBus
    store: PostgresEventStore

    async def commands(self, run_id: str) -> list[Any]:
        """Commands published on the runs topic for `run_id`, decoded, in order, read by a
        fresh consumer group (what the scheduler would see)."""
        found: list[Any] = []
        async with self.bus.consumer(
            [self.bus.topics.runs], group=f"test-{uuid.uuid4().hex}"
        ) as consumer:
            while True:
                batch = await consumer.next_batch(max_wait=timedelta(milliseconds=50))
                if batch is None:
                    return found
                found.extend(decode_command(m.envelope) for m in batch if m.key == run_id)
                await batch.commit()


@pytest.fixture
async def gateway(store: PostgresEventStore) -> AsyncIterator[Gateway]:
    """The gateway served by `run_gateway` on a free port, with an authenticated client."""
    bus = InMemoryBus()
    await bus.start()
    settings = GatewaySettings(
        host="127.0.0.1",
        port=0,
        admin_token=TOKEN,
        stream_poll_interval=timedelta(milliseconds=20),
    )
    stop = asyncio.Event()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_gateway(
            settings=settings,
            store=store,
            bus=bus,
            stop=stop,
            authenticator=RolesAuthenticator(admin_token=TOKEN),
            on_started=started.set_result,
        )
    )
    url = await asyncio.wait_for(started, 10)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        yield Gateway(url=url, client=client, bus=bus, store=store)
    stop.set()
    await asyncio.wait_for(task, 10)
    await bus.close()


def definition(name: str, *, with_input_schema: bool = True) -> dict[str, Any]:
    """A workflow that waits for a worker (`fetch`), sets a variable, then transforms."""
    spec: dict[str, Any] = {
        "nodes": [
            {
                "id": "fetch",
                "type": "function",
                "config": {"name": "fetch", "input": "{{ input }}"},
            },
            {
                "id": "remember",
                "type": "set",
                "config": {"vars": {"seen": "{{ nodes.fetch.output }}"}},
            },
            {"id": "wrap", "type": "transform", "config": {"value": {"got": "{{ vars.seen }}"}}},
        ],
        "edges": [{"from": "fetch", "to": "remember"}, {"from": "remember", "to": "wrap"}],
        "output": "{{ nodes.wrap.output }}",
    }
    if with_input_schema:
        spec["input"] = {
            "type": "object",
            "required": ["n"],
            "properties": {"n": {"type": "integer"}},
        }
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": spec,
    }


def unique(prefix: str = "wf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _run_record(state: RunState) -> RunRecord:
    return RunRecord(
        run_id=state.run_id,
        workflow_id=state.workflow,
        version=state.version,
        status=state.status.value,
        input=state.input,
        output=state.output,
        error=state.error.model_dump(mode="json") if state.error else None,
        replay_of=state.replay_of.run_id if state.replay_of else None,
        started_at=state.started_at,
        ended_at=state.ended_at,
        last_seq=state.last_seq,
    )


def _step_records(state: RunState) -> list[StepRecord]:
    return [
        StepRecord(
            run_id=state.run_id,
            node_id=key,
            status=step.status.value,
            attempt=max(step.attempt, 1),
            started_at=step.started_at or step.scheduled_at,
            ended_at=step.ended_at,
            error=step.error.model_dump(mode="json") if step.error else None,
            output=step.output,
        )
        for key, step in state.steps.items()
    ]


class SimulatedScheduler:
    """Decides with the core and writes events + projections like the scheduler does."""

    def __init__(self, store: PostgresEventStore) -> None:
        self.store = store
        self.written: dict[str, int] = {}

    def run(self, doc: dict[str, Any], run_id: str | None = None) -> LocalRun:
        return LocalRun(doc, run_id=run_id or str(uuid.uuid4()), now=datetime.now(UTC))

    async def flush(self, run: LocalRun) -> list[Event]:
        """Commit the events `run` decided since the last flush, with its projections."""
        done = self.written.get(run.run_id, 0)
        new = run.events[done:]
        await self.store.commit_batch(
            CommitBatch(
                appends=[
                    RunAppend(
                        run_id=run.run_id,
                        expected_seq=done,
                        events=[NewEvent(*event_to_record(e)) for e in new],
                    )
                ],
                runs=[_run_record(run.state)],
                steps=_step_records(run.state),
            )
        )
        self.written[run.run_id] = len(run.events)
        return new


@pytest.fixture
def scheduler(store: PostgresEventStore) -> SimulatedScheduler:
    return SimulatedScheduler(store)


def assert_error(response: httpx.Response, status: int, code: ErrorCode) -> dict[str, Any]:
    """The response is the error document with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code.value
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


async def eventually(check: Any, *, timeout: float = 30.0) -> Any:
    """Poll an async predicate until it returns something truthy (no fixed sleeps); the
    deadline only bounds a failure (5 s was within reach of a loaded machine's stalls)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


class Kit:
    """Helpers for the test modules (importlib mode cannot import conftest directly)."""

    token = TOKEN
    viewer_token = VIEWER_TOKEN
    definition = staticmethod(definition)
    unique = staticmethod(unique)
    assert_error = staticmethod(assert_error)
    eventually = staticmethod(eventually)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
