"""A gateway with the real authenticator and two tenants full of resources, for the
security tests (role table, attack suite, credentials, secrets, audit, rate limits)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tideflow.bus import InMemoryBus
from tideflow.gateway import GatewaySettings, run_gateway
from tideflow.gateway.settings import SecuritySettings
from tideflow.store import PostgresEventStore

ADMIN = "platform-admin-token"
ROLES = ("viewer", "editor", "approver", "admin")


def workflow(name: str, marker: str) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "nodes": [
                {"id": "wait", "type": "signal", "config": {"name": "go"}},
                {"id": "mark", "type": "transform", "config": {"value": marker}},
            ],
            "edges": [{"from": "wait", "to": "mark"}],
        },
    }


@dataclass
class Tenant:
    name: str
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    workflow: str = "billing"
    private_workflow: str = ""


@dataclass
class Stack:
    url: str
    client: httpx.AsyncClient
    store: PostgresEventStore
    tenants: dict[str, Tenant]
    key_file: Path

    def as_(self, token: str | None) -> dict[str, str]:
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, token: str | None, **kwargs: Any
    ) -> httpx.Response:
        return await self.client.request(method, path, headers=self.as_(token), **kwargs)

    async def ws(self, path: str, token: str | None) -> dict[str, Any]:
        """The first message of a WebSocket (an error or the first line/end)."""
        query = f"?token={token}&follow=false" if token else "?follow=false"
        url = self.url.replace("http", "ws", 1) + path + query
        async with connect(url) as socket:
            return dict(json.loads(await asyncio.wait_for(socket.recv(), 10)))

    async def new_token(self, tenant: str, role: str, by: str = ADMIN) -> tuple[str, str]:
        response = await self.call(
            "POST", "/auth/tokens", by, json={"tenant": tenant, "role": role, "name": role}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["token"]


async def start_stack(store: PostgresEventStore, key_dir: Path) -> tuple[Stack, Any]:
    bus = InMemoryBus()
    await bus.start()
    settings = GatewaySettings(
        host="127.0.0.1",
        port=0,
        admin_token=ADMIN,
        security=SecuritySettings(key_file=key_dir / "kek.json", rate_limiter="memory"),
    )
    stop = asyncio.Event()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_gateway(
            settings=settings, store=store, bus=bus, stop=stop, on_started=started.set_result
        )
    )
    url = await asyncio.wait_for(started, 10)
    client = httpx.AsyncClient(base_url=url, timeout=10)
    stack = Stack(url, client, store, {}, key_dir / "kek.json")
    for name in ("acme", "beta"):
        created = await stack.call("POST", "/tenants", ADMIN, json={"name": name})
        assert created.status_code == 201, created.text
        tenant = Tenant(name, private_workflow=f"only-{name}")
        for role in ROLES:
            tenant.token_ids[role], tenant.tokens[role] = await stack.new_token(name, role)
        editor = tenant.tokens["editor"]
        for wf in (tenant.workflow, tenant.private_workflow):
            made = await stack.call(
                "POST", "/workflows", editor, json=workflow(wf, f"{name}-marker")
            )
            assert made.status_code == 201, made.text
            assert (await stack.call("POST", f"/workflows/{wf}/publish", editor)).status_code == 201
        run = await stack.call(
            "POST",
            f"/workflows/{tenant.workflow}/runs",
            editor,
            json={"input": {"owner": f"{name}-marker"}},
        )
        assert run.status_code == 201, run.text
        tenant.run_id = run.json()["runId"]
        put = await stack.call(
            "PUT", "/secrets/DB", tenant.tokens["admin"], json={"value": f"{name}-marker"}
        )
        assert put.status_code == 200, put.text
        stack.tenants[name] = tenant

    async def close() -> None:
        await client.aclose()
        stop.set()
        await asyncio.wait_for(task, 10)
        await bus.close()

    return stack, close
