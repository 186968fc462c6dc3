"""Plugin node types end to end: the sample plugin (installed by the workspace) and a broken
one, through gateway, scheduler and executor in this process on a real Postgres.

No Tideflow code names the plugin's types: every service finds them through the
`tideflow.node_types` entry points. The broken plugin is listed with its error and the
services run on without it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import httpx
import pytest

from tideflow.bus import InMemoryBus
from tideflow.executor.app import run_executor
from tideflow.executor.settings import ExecutorSettings
from tideflow.gateway import GatewaySettings, run_gateway
from tideflow.plugins import ENTRY_POINT_GROUP, NodeTypeRegistry, load_registry
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.store import APP_ROLE, PostgresEventStore

pytestmark = pytest.mark.integration

TOKEN = "plugins-test-token"
KEY = "plugin-hmac-key"
TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}


def registry() -> NodeTypeRegistry:
    broken = EntryPoint("broken", "no_such_plugin_pkg:TYPES", ENTRY_POINT_GROUP)
    return load_registry(points=[*entry_points(group=ENTRY_POINT_GROUP), broken])


@pytest.fixture
async def client(
    fresh_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("TIDEFLOW_SECRET_HMAC_KEY", KEY)
    store = await PostgresEventStore.connect(fresh_dsn, max_size=8, role=APP_ROLE)
    bus = InMemoryBus()
    await bus.start()
    node_types = registry()
    stop = asyncio.Event()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    services = [
        asyncio.create_task(run_scheduler(settings=SchedulerSettings(), store=store, bus=bus,
                                          stop=stop, serve_health=False, node_types=node_types)),
        asyncio.create_task(run_executor(settings=ExecutorSettings(), bus=bus, stop=stop,
                                         serve_health=False, node_types=node_types)),
        asyncio.create_task(run_gateway(
            settings=GatewaySettings(port=0, admin_token=TOKEN,
                                     stream_poll_interval=timedelta(milliseconds=20)),
            store=store, bus=bus, stop=stop, on_started=started.set_result,
            node_types=node_types)),
    ]  # fmt: skip
    url = await asyncio.wait_for(started, 10)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
            yield http
    finally:
        stop.set()
        await asyncio.gather(*services, return_exceptions=True)
        await bus.close()
        await store.close()


def workflow(name: str, digest: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {
            "nodes": [
                {"id": "slug", "type": "example.slugify", "config": {"text": "{{ input.title }}"}},
                {"id": "sign", "type": "example.digest", "retry": {"maxAttempts": 2,
                 "initialInterval": "10ms"}, "config": digest},
            ],
            "edges": [{"from": "slug", "to": "sign"}],
            "output": {"slug": "{{ nodes.slug.output.slug }}",
                       "digest": "{{ nodes.sign.output.digest }}"},
        },
    }  # fmt: skip


async def finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        run = (await client.get(f"/runs/{run_id}")).json()
        if run["status"] in TERMINAL:
            return run
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.05)


async def publish(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    created = await client.post("/workflows", json=document)
    assert created.status_code == 201, created.text
    name = document["metadata"]["name"]
    assert (await client.post(f"/workflows/{name}/publish")).status_code == 201


async def test_listing_shows_plugin_types_and_the_broken_plugin(client):
    body = (await client.get("/node-types")).json()
    types = {item["type"]: item for item in body["items"]}
    assert types["example.slugify"]["runs"] == "inline"
    assert types["example.digest"]["icon"]
    assert types["example.digest"]["outputSchema"]["required"] == ["digest", "algorithm"]
    [failure] = body["failures"]
    assert failure["entryPoint"] == "broken = no_such_plugin_pkg:TYPES"
    assert "ModuleNotFoundError" in failure["error"]


async def test_plugin_configs_are_validated_naming_the_node(client):
    bad = workflow("bad-config", {"text": 5, "algorithm": "crc32"})
    response = await client.post("/workflows", json=bad)
    assert response.status_code == 422
    problems = response.json()["error"]["details"]["problems"]
    assert {p["path"] for p in problems} == {
        "spec.nodes[1].config.text",
        "spec.nodes[1].config.algorithm",
    }
    assert all(p["code"] == "INVALID_CONFIG" and "'sign'" in p["message"] for p in problems)


async def test_many_runs_use_inline_and_worker_plugin_types(client):
    await publish(client, workflow("signed", {"text": "{{ nodes.slug.output.slug }}",
                                              "secret": "HMAC_KEY"}))  # fmt: skip
    titles = [f"Run number {i}!" for i in range(20)]
    started = await asyncio.gather(*[
        client.post("/workflows/signed/runs", json={"input": {"title": t}}) for t in titles
    ])  # fmt: skip
    runs = await asyncio.gather(*[finished(client, r.json()["runId"]) for r in started])
    for title, run in zip(titles, runs, strict=True):
        assert run["status"] == "succeeded", run
        slug = "-".join(title.lower().rstrip("!").split())
        expected = hmac.new(KEY.encode(), slug.encode(), "sha256").hexdigest()
        assert run["output"] == {"slug": slug, "digest": expected}


async def test_worker_plugin_failures(client):
    # a NodeError is not retried; a rendered config that breaks the schema fails for good
    await publish(client, workflow("mismatch", {"text": "x", "expect": "00"}))
    await publish(client, workflow("bad-render", {"text": "x", "algorithm": "{{ input.algo }}"}))
    await publish(client, workflow("plain", {"text": "{{ input.title }}"}))
    ids = []
    for name, run_input in (("mismatch", {"title": "a"}), ("bad-render", {"title": "a",
                            "algo": "crc32"}), ("plain", {"title": "abc"})):  # fmt: skip
        response = await client.post(f"/workflows/{name}/runs", json={"input": run_input})
        ids.append(response.json()["runId"])
    mismatch, bad_render, plain = [await finished(client, run_id) for run_id in ids]
    sign = {s["nodeId"]: s for s in mismatch["steps"]}["sign"]
    assert (sign["error"]["type"], sign["attempt"]) == ("DigestMismatch", 1)
    sign = {s["nodeId"]: s for s in bad_render["steps"]}["sign"]
    assert sign["error"]["type"] == "ConfigInvalid"
    assert "algorithm" in sign["error"]["message"]
    assert plain["output"]["digest"] == hashlib.sha256(b"abc").hexdigest()
