"""Outbound run-event webhooks on a real Postgres: subscriptions through the API, runs
decided by a real scheduler, deliveries sent by the dispatcher to a local receiver that
verifies every signature; retries and the flag; the egress policy; and a dispatcher
process SIGKILLed in the middle of a delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tideflow.runtime import EmbeddedServer
from tideflow.settings import EgressSettings, KeySettings
from tideflow.store import PostgresEventStore
from tideflow.trigger.outbound import Dispatcher, DispatchPolicy, envelope_of, guarded_client
from tideflow.trigger.settings import TriggerSettings

from .conftest import admin_gateway, serving_platform

pytestmark = pytest.mark.integration

TOKEN = "webhooks-test-token"
SECRET = "whsec-0123456789abcdef"
TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}


class Receiver:
    """Answers deliveries; records each with whether its signature verified."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status: dict[str, int] = {}  # path -> status to answer
        self.hold: asyncio.Event | None = None  # when set, /slow waits on it
        self.holding = asyncio.Event()

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        stamp = request.headers["x-tideflow-timestamp"]
        expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        path = request.url.path
        entry = {
            "path": path, "delivery": request.headers["x-tideflow-delivery"],
            "event": request.headers["x-tideflow-event"], "body": json.loads(body),
            "verified": request.headers["x-tideflow-signature"] == f"sha256={expected.hexdigest()}",
            "fresh": abs(time.time() - int(stamp)) < 60,
        }  # fmt: skip
        if path == "/slow" and self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        status = self.status.get(path, 200)
        entry["answered"] = status
        self.received.append(entry)
        return JSONResponse({"thanks": True}, status_code=status)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = Starlette(routes=[Route("/{name}", rec.handle, methods=["POST"])])
    server = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    task = await server.start_serving()
    yield rec, f"http://127.0.0.1:{server.bound_port}"
    if rec.hold is not None:
        rec.hold.set()
    server.should_exit = True
    await task


@pytest.fixture
async def platform(
    fresh_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, PostgresEventStore]]:
    monkeypatch.setenv("TIDEFLOW_SECURITY_KEY_FILE", str(tmp_path / "kek.json"))
    async with (
        serving_platform(fresh_dsn, gateway=admin_gateway(TOKEN)) as platform,
        platform.client(TOKEN) as client,
    ):
        yield client, platform.store


def dispatcher(store: PostgresEventStore, http: httpx.AsyncClient, **policy: Any) -> Dispatcher:
    return Dispatcher(
        store=store, envelope=envelope_of(KeySettings()), http=http,
        policy=DispatchPolicy(poll=timedelta(milliseconds=20), **policy),
    )  # fmt: skip


def loopback_client() -> httpx.AsyncClient:
    return guarded_client(TriggerSettings(egress=EgressSettings(allow_loopback=True)), listeners=[])


WORKFLOWS = {
    "ok": [{"id": "say", "type": "log", "config": {"message": "hi {{ input.n }}"}}],
    # a missing input field fails the expression at run time: the run fails
    "broken": [{"id": "calc", "type": "transform", "config": {"value": "{{ input.x.y }}"}}],
}


async def publish_all(client: httpx.AsyncClient) -> None:
    for name, nodes in WORKFLOWS.items():
        document = {"apiVersion": "tideflow.io/v1", "kind": "Workflow",
                    "metadata": {"name": name}, "spec": {"nodes": nodes}}  # fmt: skip
        assert (await client.post("/workflows", json=document)).status_code == 201
        assert (await client.post(f"/workflows/{name}/publish")).status_code == 201


async def start(client: httpx.AsyncClient, workflow: str, run_input: Any) -> str:
    response = await client.post(f"/workflows/{workflow}/runs", json={"input": run_input})
    assert response.status_code == 201, response.text
    return str(response.json()["runId"])


async def until(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def subscribe(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/subscriptions", json={"secret": SECRET} | body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_subscriptions_api_validates_and_scopes(platform, receiver):
    client, _ = platform
    _, base = receiver
    bad = [
        {"url": "ftp://x/y", "events": ["run.failed"], "secret": SECRET},
        {"url": f"{base}/a", "events": ["run.exploded"], "secret": SECRET},
        {"url": f"{base}/a", "events": [], "secret": SECRET},
        {"url": f"{base}/a", "events": ["run.failed"], "secret": "short"},
        {"url": "http://user:pw@example.com/", "events": ["run.failed"], "secret": SECRET},
        {"url": "http://example.com:99999/", "events": ["run.failed"], "secret": SECRET},
        {"url": "http://example.com:port/", "events": ["run.failed"], "secret": SECRET},
    ]
    for body in bad:
        response = await client.post("/subscriptions", json=body)
        assert response.status_code == 422, (body, response.text)
    created = await subscribe(client, url=f"{base}/a", events=["run.failed", "run.succeeded"])
    assert "secret" not in created
    assert created["status"] == "active"
    listed = (await client.get("/subscriptions")).json()["items"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert (await client.get(f"/subscriptions/{created['id']}")).json()["url"] == f"{base}/a"
    assert (await client.get("/subscriptions/nope/deliveries")).status_code == 404
    for forged in ("%00", "a%00b"):  # Postgres cannot take a NUL: once a 500 from the store
        for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/deliveries")):
            answer = await client.request(method, f"/subscriptions/{forged}{path}")
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["code"] == "VALIDATION_FAILED"
    anonymous = await client.get("/subscriptions", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert (await client.delete(f"/subscriptions/{created['id']}")).status_code == 204
    assert (await client.get(f"/subscriptions/{created['id']}")).status_code == 404
    audit = (await client.get("/audit", params={"limit": 50})).json()["items"]
    assert {"subscription.create", "subscription.delete"} <= {a["action"] for a in audit}


async def test_deliveries_are_signed_filtered_and_recorded(platform, receiver):
    client, store = platform
    rec, base = receiver
    await publish_all(client)
    failures = await subscribe(client, url=f"{base}/failures", events=["run.failed"])
    scoped = await subscribe(client, url=f"{base}/ok-only", events=["*"], workflowId="ok")
    runs = [await start(client, "ok", {"n": i}) for i in range(5)]
    runs += [await start(client, "broken", {}) for _ in range(3)]
    async with loopback_client() as http:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher(store, http).run(stop))

        async def all_received() -> bool:
            failed = [r for r in rec.received if r["path"] == "/failures"]
            ended = [r for r in rec.received if r["event"] == "run.succeeded"]
            return len(failed) == 3 and len(ended) == 5

        await until(all_received, "deliveries")
        stop.set()
        await task
    assert all(r["verified"] and r["fresh"] for r in rec.received)
    failed = [r for r in rec.received if r["path"] == "/failures"]
    assert {r["body"]["runId"] for r in failed} == set(runs[5:])
    assert all(r["body"]["type"] == "run.failed" and r["event"] == "run.failed" for r in failed)
    assert all(r["body"]["workflowId"] == "broken" for r in failed)
    assert failed[0]["body"]["data"]["error"]["type"]
    scoped_types = Counter(r["event"] for r in rec.received if r["path"] == "/ok-only")
    assert scoped_types["run.succeeded"] == 5
    assert scoped_types["run.started"] == 5
    assert all(r["body"]["workflowId"] == "ok" for r in rec.received if r["path"] == "/ok-only")
    started = next(r for r in rec.received if r["event"] == "run.started")
    assert "definition" not in started["body"]["data"]
    assert len({r["delivery"] for r in rec.received}) == len(rec.received)
    deliveries = (await client.get(f"/subscriptions/{failures['id']}/deliveries")).json()["items"]
    assert len(deliveries) == 3
    assert all(d["status"] == "succeeded" and d["attempts"] == 1 for d in deliveries)
    assert all(d["attemptLog"][0]["statusCode"] == 200 for d in deliveries)
    assert '"thanks"' in deliveries[0]["attemptLog"][0]["responseBody"]
    scoped_view = (await client.get(f"/subscriptions/{scoped['id']}")).json()
    assert scoped_view["status"] == "active"


async def test_failing_deliveries_back_off_then_flag_the_subscription(platform, receiver):
    client, store = platform
    rec, base = receiver
    rec.status["/down"] = 503
    await publish_all(client)
    down = await subscribe(client, url=f"{base}/down", events=["run.failed"])
    denied = await subscribe(client, url="http://169.254.169.254/hook", events=["run.failed"])
    await start(client, "broken", {})
    async with loopback_client() as http:
        stop = asyncio.Event()
        policy = {
            "initial_backoff": timedelta(milliseconds=50),
            "max_backoff": timedelta(milliseconds=200),
            "retry_for": timedelta(seconds=1),
        }
        task = asyncio.create_task(dispatcher(store, http, **policy).run(stop))

        async def flagged() -> bool:
            views = [(await client.get(f"/subscriptions/{s['id']}")).json() for s in (down, denied)]
            return all(v["status"] == "failing" for v in views)

        await until(flagged, "both subscriptions flagged")
        stop.set()
        await task
    [delivery] = (await client.get(f"/subscriptions/{down['id']}/deliveries")).json()["items"]
    assert delivery["status"] == "failed"
    assert delivery["attempts"] >= 3
    assert [a["statusCode"] for a in delivery["attemptLog"]] == [503] * delivery["attempts"]
    started = [a["startedAt"] for a in delivery["attemptLog"]]
    assert started == sorted(started)
    [refused] = (await client.get(f"/subscriptions/{denied['id']}/deliveries")).json()["items"]
    assert (refused["status"], refused["attempts"]) == ("failed", 1)
    assert refused["attemptLog"][0]["error"].startswith("EgressDenied")
    view = (await client.get(f"/subscriptions/{down['id']}")).json()
    assert "given up" in view["flagReason"]
    assert not [r for r in rec.received if r["path"] != "/down"]


DISPATCHER_PROCESS = """
import asyncio, sys
from datetime import timedelta
from tideflow.settings import EgressSettings, KeySettings
from tideflow.store import APP_ROLE, PostgresEventStore
from tideflow.trigger.outbound import DispatchPolicy, Dispatcher, envelope_of, guarded_client
from tideflow.trigger.settings import TriggerSettings

async def main():
    store = await PostgresEventStore.connect(sys.argv[1], max_size=4, role=APP_ROLE)
    settings = TriggerSettings(egress=EgressSettings(allow_loopback=True))
    async with guarded_client(settings, listeners=[]) as http:
        policy = DispatchPolicy(poll=timedelta(milliseconds=20), lease=timedelta(seconds=2),
                                timeout=timedelta(seconds=30))
        await Dispatcher(store=store, envelope=envelope_of(KeySettings()), http=http,
                         policy=policy).run(asyncio.Event())

asyncio.run(main())
"""


def spawn(dsn: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", DISPATCHER_PROCESS, dsn], env=os.environ.copy())


async def test_a_killed_dispatcher_loses_nothing_and_repeats_no_success(
    platform, receiver, fresh_dsn
):
    client, _ = platform
    rec, base = receiver
    rec.hold = asyncio.Event()
    await publish_all(client)
    slow = await subscribe(client, url=f"{base}/slow", events=["run.succeeded"])
    first = await start(client, "ok", {"n": 0})
    process = spawn(fresh_dsn)
    try:
        await asyncio.wait_for(rec.holding.wait(), 30)  # the delivery is in flight
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        # runs that end while no dispatcher runs are delivered after the restart
        later = [await start(client, "ok", {"n": i}) for i in range(1, 4)]

        async def ended() -> bool:
            runs = [(await client.get(f"/runs/{r}")).json() for r in later]
            return all(r["status"] in TERMINAL for r in runs)

        await until(ended, "runs to end")
        rec.hold.set()  # the receiver answers from now on
        process = spawn(fresh_dsn)

        async def delivered() -> bool:
            done = {r["body"]["runId"] for r in rec.received if r["answered"] == 200}
            return done >= {first, *later}

        await until(delivered, "every run's delivery")
        # one more event, delivered after everything before it: nothing is sent again
        last = await start(client, "ok", {"n": 9})
        await until(lambda: _has(rec, last), "the last delivery")

        async def recorded() -> list[dict[str, Any]] | None:
            # the receiver answers before the dispatcher records the success
            page = await client.get(f"/subscriptions/{slow['id']}/deliveries")
            found = page.json()["items"]
            return found if all(i["status"] == "succeeded" for i in found) else None

        items = await until(recorded, "every success recorded")
    finally:
        process.kill()
        process.wait(10)
    per_delivery = Counter(r["delivery"] for r in rec.received)
    by_run = {r["body"]["runId"]: r["delivery"] for r in rec.received}
    assert per_delivery[by_run[first]] == 2, items  # the one in flight at the kill, same id
    assert all(per_delivery[by_run[run]] == 1 for run in [*later, last]), items
    assert len(items) == 5
    killed = next(i for i in items if i["runId"] == first)
    # claimed twice; the killed attempt left no record, the second one succeeded
    assert killed["attempts"] == 2
    assert [a["statusCode"] for a in killed["attemptLog"]] == [200]
    assert all(i["attempts"] == 1 for i in items if i["runId"] != first)


async def _has(rec: Receiver, run_id: str) -> bool:
    return any(r["body"]["runId"] == run_id for r in rec.received)


async def test_subscriptions_are_per_tenant_and_need_the_editor_role(platform, receiver):
    client, _ = platform
    _, base = receiver
    tokens: dict[str, dict[str, str]] = {}
    for tenant in ("acme", "globex"):
        assert (await client.post("/tenants", json={"name": tenant})).is_success
        tokens[tenant] = {}
        for role in ("viewer", "editor"):
            body = {"tenant": tenant, "role": role, "name": role}
            minted = await client.post("/auth/tokens", json=body)
            tokens[tenant][role] = minted.json()["token"]

    def as_(tenant: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[tenant][role]}"}

    body = {"url": f"{base}/t", "events": ["run.failed"], "secret": SECRET}
    refused = await client.post("/subscriptions", json=body, headers=as_("acme", "viewer"))
    assert refused.status_code == 403
    made = await client.post("/subscriptions", json=body, headers=as_("acme", "editor"))
    assert made.status_code == 201
    sub_id = made.json()["id"]
    assert [
        s["id"]
        for s in (await client.get("/subscriptions", headers=as_("acme", "viewer"))).json()["items"]
    ] == [sub_id]
    # another tenant neither sees nor deletes it
    other = as_("globex", "editor")
    assert (await client.get("/subscriptions", headers=other)).json()["items"] == []
    assert (await client.get(f"/subscriptions/{sub_id}", headers=other)).status_code == 404
    assert (await client.delete(f"/subscriptions/{sub_id}", headers=other)).status_code == 404
    assert (
        await client.get(f"/subscriptions/{sub_id}/deliveries", headers=other)
    ).status_code == 404
    assert (await client.delete(f"/subscriptions/{sub_id}", headers=as_("acme", "viewer"))
            ).status_code == 403  # fmt: skip
    assert (await client.get(f"/subscriptions/{sub_id}", headers=as_("acme", "viewer"))
            ).status_code == 200  # fmt: skip
