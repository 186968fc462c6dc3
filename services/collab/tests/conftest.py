"""Two collaboration service replicas on the real Postgres and Redis, and y-websocket clients.

One database per module; both replicas serve over real WebSockets on their own ports and
share rooms through Redis pub/sub. `YClient` is a minimal y-websocket client on pycrdt:
it syncs a local document with a room and sends every local change as an update.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
import pytest
import websockets
from pycrdt import (
    Doc,
    YMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)

from tideflow.auth import Authenticator, InvalidCredentials, Principal, Role
from tideflow.collab.app import collab_services, run_collab
from tideflow.collab.document import read_definition
from tideflow.collab.settings import CollabSettings
from tideflow.settings import RedisSettings
from tideflow.store import APP_ROLE, PostgresCollabStore, PostgresEventStore
from tideflow.store.testing import Databases, with_database

PRINCIPALS = {
    "alice": Principal("alice", "default", Role.EDITOR),
    "bob": Principal("bob", "default", Role.EDITOR),
    "carol": Principal("carol", "default", Role.ADMIN),
    "vera": Principal("vera", "default", Role.VIEWER),
    "mallory": Principal("mallory", "other", Role.ADMIN),
}


class StaticTokens(Authenticator):
    """`Bearer <name>` is the principal of that name."""

    def __init__(self) -> None:
        super().__init__(admin_token="unused")

    async def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        found = PRINCIPALS.get(token) if scheme.lower() == "bearer" else None
        if found is None:
            raise InvalidCredentials("unknown token")
        return found


def definition(name: str, *nodes: dict[str, Any], edges: list[Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"nodes": list(nodes), "edges": edges or []},
    }


def log_node(node_id: str, message: str = "hi", x: int = 0) -> dict[str, Any]:
    return {"id": node_id, "type": "log", "config": {"message": message}, "ui": {"x": x, "y": 0}}


async def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `check` until it returns something truthy (no sleeps standing in for sync)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.02)


async def eventually_async(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """`eventually` for a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.02)


@dataclass
class YClient:
    """A y-websocket client of one room."""

    url: str
    doc: Doc[Any] = field(default_factory=Doc)
    denied: list[bytes] = field(default_factory=list)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    closed: int | None = None
    close_reason: str | None = None
    _ws: Any = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _outbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _remote: bool = False

    async def __aenter__(self) -> Self:
        self._ws = await websockets.connect(self.url)
        self.doc.observe(self._changed)
        with contextlib.suppress(websockets.ConnectionClosed):  # a refused join
            await self._ws.send(create_sync_message(self.doc))
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._write())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self._ws.close()

    def _changed(self, event: Any) -> None:
        if not self._remote:
            self._outbox.put_nowait(create_update_message(event.update))

    async def _write(self) -> None:
        while True:
            message = await self._outbox.get()
            await self._ws.send(message)

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                if isinstance(message, str):
                    continue
                if message[0] == YMessageType.SYNC:
                    self._remote = True
                    try:
                        reply = handle_sync_message(message[1:], self.doc)
                    finally:
                        self._remote = False
                    if message[1] == 1:  # sync step 2: we have the room's state
                        self.synced.set()
                    if reply is not None:
                        await self._ws.send(reply)
                elif message[0] == 2:
                    self.denied.append(message)
        except websockets.ConnectionClosed as e:
            self.closed = e.rcvd.code if e.rcvd else None
            self.close_reason = e.rcvd.reason if e.rcvd else None
        self.closed = self.closed or self._ws.close_code

    def definition(self) -> dict[str, Any]:
        return read_definition(self.doc)


@dataclass
class Replica:
    url: str
    http: httpx.AsyncClient

    def ws(self, workflow: str, token: str) -> str:
        return f"{self.url.replace('http', 'ws', 1)}/collab/{workflow}?token={token}"

    async def shared(self, workflow: str, token: str = "carol") -> dict[str, Any]:  # noqa: S107
        response = await self.http.get(
            f"/collab/workflows/{workflow}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        return dict(response.json()["definition"])


@dataclass
class Cluster:
    store: PostgresEventStore
    documents: PostgresCollabStore
    replicas: list[Replica]
    deaf: Replica
    """A replica without pub/sub (as if every message to and from it were lost)."""

    async def workflow(self, *nodes: dict[str, Any], tenant: str = "default") -> str:
        name = f"wf-{uuid.uuid4().hex[:10]}"
        await self.store.create_workflow(name, name, definition(name, *nodes), tenant_id=tenant)
        return name


@pytest.fixture(scope="module")
async def dsn(databases: Databases, migrated_template: str) -> AsyncIterator[str]:
    name = await databases.create(template=migrated_template)
    yield with_database(databases.url, name)
    await databases.drop(name)


@pytest.fixture(scope="module")
async def cluster(dsn: str, redis_url: str) -> AsyncIterator[Cluster]:
    store = await PostgresEventStore.connect(dsn, max_size=6, role=APP_ROLE)
    documents = await PostgresCollabStore.connect(dsn, max_size=6, role=APP_ROLE)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    replicas: list[Replica] = []
    async with contextlib.AsyncExitStack() as stack:
        for fanout in ("redis", "redis", "none"):
            settings = CollabSettings(
                port=0, redis=RedisSettings(url=redis_url), catch_up_every="1s",
                compact_every="2s", fanout=fanout,
            )  # fmt: skip
            services = await stack.enter_async_context(
                collab_services(
                    settings=settings, store=documents, workflows=store, audit_log=store
                )
            )
            started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            tasks.append(
                asyncio.create_task(
                    run_collab(services=services, stop=stop, authenticator=StaticTokens(),
                               on_started=started.set_result)
                )
            )  # fmt: skip
            url = await asyncio.wait_for(started, 10)
            replicas.append(Replica(url=url, http=httpx.AsyncClient(base_url=url, timeout=10)))
        try:
            yield Cluster(store=store, documents=documents, replicas=replicas[:2], deaf=replicas[2])
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for replica in replicas:
                await replica.http.aclose()
    await documents.close()
    await store.close()
