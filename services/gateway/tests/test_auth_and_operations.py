"""Authentication and roles, the error contract's generic codes, health, readiness, metrics
and the OpenAPI document."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tideflow.bus import InMemoryBus
from tideflow.gateway import ErrorCode, GatewaySettings, create_app
from tideflow.store import PostgresEventStore

pytestmark = pytest.mark.integration


async def test_missing_and_wrong_tokens_are_401(gateway, kit):
    anonymous = await gateway.client.get("/workflows", headers={"Authorization": ""})
    kit.assert_error(anonymous, 401, ErrorCode.UNAUTHENTICATED)
    wrong = await gateway.client.get("/runs", headers={"Authorization": "Bearer nope"})
    kit.assert_error(wrong, 401, ErrorCode.UNAUTHENTICATED)
    basic = await gateway.client.get("/runs", headers={"Authorization": "Basic abc"})
    kit.assert_error(basic, 401, ErrorCode.UNAUTHENTICATED)


async def test_viewers_read_but_do_not_write(gateway, kit):
    viewer = {"Authorization": f"Bearer {kit.viewer_token}"}
    name = kit.unique()
    assert (await gateway.client.post("/workflows", json=kit.definition(name))).status_code == 201
    assert (await gateway.client.get(f"/workflows/{name}", headers=viewer)).status_code == 200
    assert (await gateway.client.get("/runs", headers=viewer)).status_code == 200
    for response in [
        await gateway.client.post("/workflows", json=kit.definition(kit.unique()), headers=viewer),
        await gateway.client.post(f"/workflows/{name}/publish", headers=viewer),
        await gateway.client.delete(f"/workflows/{name}", headers=viewer),
        await gateway.client.post(f"/workflows/{name}/runs", json={}, headers=viewer),
    ]:
        kit.assert_error(response, 403, ErrorCode.FORBIDDEN)
    # a resource the caller cannot see is a 404 whatever the role: a 403 would confirm it
    missing = await gateway.client.post("/runs/x/cancel", headers=viewer)
    kit.assert_error(missing, 404, ErrorCode.RUN_NOT_FOUND)


async def test_generic_errors_keep_the_contract(gateway, kit):
    kit.assert_error(await gateway.client.get("/no/such/path"), 404, ErrorCode.NOT_FOUND)
    kit.assert_error(await gateway.client.patch("/workflows"), 405, ErrorCode.METHOD_NOT_ALLOWED)
    malformed = await gateway.client.post(
        "/runs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    error = kit.assert_error(malformed, 422, ErrorCode.VALIDATION_FAILED)
    assert error["details"]["problems"]


async def test_health_readiness_metrics_and_docs(gateway, kit):
    assert (await gateway.client.get("/healthz")).json()["status"] == "ok"
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"store": True, "bus": True}

    name = kit.unique()
    await gateway.client.post("/workflows", json=kit.definition(name))
    await gateway.client.post(f"/workflows/{name}/publish")
    await gateway.client.post(f"/workflows/{name}/runs", json={"input": {"n": 1}})
    metrics = (await gateway.client.get("/metrics")).text
    assert 'tideflow_gateway_runs_started_total{kind="start"} 1.0' in metrics
    assert (
        'tideflow_http_request_duration_seconds_count{method="POST",'
        'route="/workflows/{workflow_id}/runs",service="gateway",status="201"} 1.0'
    ) in metrics

    spec = (await gateway.client.get("/openapi.json")).json()
    assert "/runs/{run_id}/state" in spec["paths"]
    docs = await gateway.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_unreachable_store_and_bus_are_503(dsn, kit):
    """A store that fails makes reads 503 and readiness false; a failing bus makes commands
    503 and readiness false, while a start still succeeds (its outbox row is relayed)."""
    store = await PostgresEventStore.connect(dsn, max_size=2)
    bus = InMemoryBus()  # never started: every publish fails
    app = create_app(settings=GatewaySettings(), store=store, bus=bus)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        name = kit.unique()
        await client.post("/workflows", json=kit.definition(name))
        await client.post(f"/workflows/{name}/publish")
        started = await client.post(f"/workflows/{name}/runs", json={"input": {"n": 1}})
        assert started.status_code == 201
        owner = await asyncpg.connect(dsn)
        try:
            rows = await owner.fetch(
                "SELECT topic, claimed_until > now() AS claimed FROM outbox WHERE key = $1",
                started.json()["runId"].encode(),
            )
        finally:
            await owner.close()
        # the StartRun waits in the outbox, claimed by us for a while, then relayed
        assert [(r["topic"], r["claimed"]) for r in rows] == [(bus.topics.runs, True)]
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["bus"] is False

        await store.close()
        response = await client.get(f"/runs/{started.json()['runId']}")
        kit.assert_error(response, 503, ErrorCode.UNAVAILABLE)
        assert (await client.get("/readyz")).json()["checks"]["store"] is False


class ExplodingStore:
    async def get_run(self, run_id, *, preview_over=None):
        raise RuntimeError("a bug")


async def test_a_bug_is_an_internal_error_without_a_trace(kit):
    app = create_app(settings=GatewaySettings(), store=ExplodingStore(), bus=InMemoryBus())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.get("/runs/abc")
    error = kit.assert_error(response, 500, ErrorCode.INTERNAL)
    assert "a bug" not in response.text
    assert error["details"] == {}
