"""Webhook starts, cron ticks and approval decisions per second on a real Postgres.

`.venv/bin/python bench/triggers_bench.py [--hooks 400] [--concurrency 16] [--crons 200]
[--approvals 300]` against `TIDEFLOW_DATABASE_URL` (a throwaway database is created and
dropped). The bus is the in-process one: what is measured is the services' own path
(signature check, idempotent run + outbox transaction, cron claims, the vote transaction),
not Kafka. Numbers are printed, never asserted.

- webhooks: signed `POST /hooks/...` through the ASGI app, each a new delivery; then the
  same deliveries again (answered from the idempotency key);
- cron: `--crons` triggers due at once, claimed by two replicas concurrently;
- approvals: `POST /approvals/{id}/decision` on pending approvals (quorum 1, each closes
  its approval and writes the decision's outbox row).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tideflow.approval.app import create_app as approval_app
from tideflow.approval.app import services_of as approval_services
from tideflow.approval.settings import ApprovalSettings
from tideflow.auth import Authenticator
from tideflow.bus import InMemoryBus
from tideflow.store import (
    APP_ROLE,
    ApprovalRecord,
    PostgresApprovalStore,
    PostgresEventStore,
    PostgresTriggerStore,
    migrate,
)
from tideflow.store.testing import Databases, with_database
from tideflow.trigger.app import create_app as trigger_app
from tideflow.trigger.app import services_of as trigger_services
from tideflow.trigger.cron import CronLoop
from tideflow.trigger.settings import TriggerSettings
from tideflow.trigger.signatures import tideflow_headers
from tideflow.trigger.starting import Definitions

SECRET = "bench-secret"  # noqa: S105 - a throwaway value for a throwaway database
TOKEN = "bench-admin"  # noqa: S105


def workflow(name: str, triggers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {"triggers": triggers,
                 "nodes": [{"id": "a", "type": "transform", "config": {"value": "{{ input }}"}}]},
    }  # fmt: skip


def report(label: str, count: int, seconds: float, latencies: list[float] | None = None) -> None:
    line = f"{label:<28} {count:>6} in {seconds:6.2f}s  {count / seconds:8.1f}/s"
    if latencies:
        ordered = sorted(latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        line += f"  p50 {statistics.median(ordered) * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms"
    print(line)


async def timed(calls: list[Any], concurrency: int) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(call: Any) -> None:
        async with gate:
            began = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(one(c) for c in calls))
    return time.perf_counter() - began, latencies


async def bench_hooks(store: PostgresEventStore, dsn: str, hooks: int, concurrency: int) -> None:
    os.environ["TIDEFLOW_SECRET_BENCH_HOOK"] = SECRET
    await store.create_workflow("hooked", "hooked", workflow("hooked", [
        {"id": "in", "type": "webhook", "secret": "BENCH_HOOK"}]))  # fmt: skip
    await store.publish("hooked")
    triggers = await PostgresTriggerStore.connect(dsn, max_size=concurrency, role=APP_ROLE)
    bus = InMemoryBus()
    await bus.start()
    services = trigger_services(settings=TriggerSettings(), store=triggers, bus=bus)
    app = trigger_app(services, Authenticator(admin_token=TOKEN))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        bodies = [f'{{"n": {i}}}'.encode() for i in range(hooks)]

        def call(body: bytes, delivery: str) -> Any:
            headers = {
                **tideflow_headers(SECRET, body, int(time.time())),
                "X-Tideflow-Delivery": delivery,
                "Content-Type": "application/json",
            }

            async def send() -> None:
                response = await c.post("/hooks/hooked/in", content=body, headers=headers)
                if response.status_code != 202:
                    raise RuntimeError(response.text)

            return send

        seconds, latencies = await timed(
            [call(b, f"d-{i}") for i, b in enumerate(bodies)], concurrency
        )
        report("webhook, new delivery", hooks, seconds, latencies)
        seconds, latencies = await timed(
            [call(b, f"d-{i}") for i, b in enumerate(bodies)], concurrency
        )
        report("webhook, repeated delivery", hooks, seconds, latencies)
    await bus.close()
    await triggers.close()


async def bench_cron(store: PostgresEventStore, dsn: str, crons: int) -> None:
    for i in range(crons):
        name = f"tick{i}"
        await store.create_workflow(name, name, workflow(name, [
            {"id": "every", "type": "cron", "schedule": "* * * * *"}]))  # fmt: skip
        await store.publish(name)
    now = datetime(2031, 1, 1, tzinfo=UTC)
    clock = [now]
    bus = InMemoryBus()
    await bus.start()
    stores = [await PostgresTriggerStore.connect(dsn, max_size=2, role=APP_ROLE) for _ in "ab"]
    loops = [
        CronLoop(
            store=s,
            bus=bus,
            definitions=Definitions(s),
            poll=timedelta(seconds=1),
            batch=100,
            outbox_claim=timedelta(seconds=30),
            clock=lambda: clock[0],
        )
        for s in stores
    ]

    async def drain() -> int:
        total = 0
        while True:
            fired = await asyncio.gather(*(loop.fire_due() for loop in loops))
            total += sum(fired)
            if not any(fired):
                return total

    await drain()  # first sight: every trigger scheduled
    clock[0] = now + timedelta(minutes=1, seconds=1)
    began = time.perf_counter()
    fired = await drain()
    report("cron ticks, two replicas", fired, time.perf_counter() - began)
    for s in stores:
        await s.close()
    await bus.close()


async def bench_approvals(dsn: str, approvals: int, concurrency: int) -> None:
    store = await PostgresApprovalStore.connect(dsn, max_size=concurrency, role=APP_ROLE)
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(approvals)]
    await store.record_requests([
        ApprovalRecord(approval_id=i, run_id=f"run-{i}", node_id="ask", step="ask", attempt=1,
                       workflow_id="wf", requested_at=now, role="approver")
        for i in ids
    ])  # fmt: skip
    bus = InMemoryBus()
    await bus.start()
    services = approval_services(settings=ApprovalSettings(), store=store, bus=bus)
    app = approval_app(services, Authenticator(admin_token=TOKEN))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:

        def call(approval_id: str) -> Any:
            async def send() -> None:
                response = await c.post(f"/approvals/{approval_id}/decision",
                                        json={"decision": "approve"}, headers=headers)  # fmt: skip
                if response.status_code != 200:
                    raise RuntimeError(response.text)

            return send

        seconds, latencies = await timed([call(i) for i in ids], concurrency)
        report("approval decisions", approvals, seconds, latencies)
    await bus.close()
    await store.close()


async def main(args: argparse.Namespace) -> None:
    databases = Databases(
        os.environ.get("TIDEFLOW_DATABASE_URL", "postgresql://tideflow@127.0.0.1:15432/tideflow")
    )
    name = await databases.create()
    dsn = with_database(databases.url, name)
    try:
        await migrate(dsn)
        store = await PostgresEventStore.connect(dsn, max_size=4, role=APP_ROLE)
        try:
            await bench_hooks(store, dsn, args.hooks, args.concurrency)
            await bench_cron(store, dsn, args.crons)
            await bench_approvals(dsn, args.approvals, args.concurrency)
        finally:
            await store.close()
    finally:
        await databases.drop(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hooks", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--crons", type=int, default=200)
    parser.add_argument("--approvals", type=int, default=300)
    asyncio.run(main(parser.parse_args()))
