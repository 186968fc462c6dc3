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
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import httpx
import pytest

from tideflow.executor.settings import ExecutorSettings
from tideflow.plugins import ENTRY_POINT_GROUP, NodeTypeRegistry, load_registry

from .conftest import admin_gateway, serving_platform

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
    async with (
        serving_platform(
            fresh_dsn,
            gateway=admin_gateway(TOKEN),
            executor=ExecutorSettings(),
            node_types=registry(),
        ) as platform,
        platform.client(TOKEN) as http,
    ):
        yield http


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
