"""Per-request cost of the gateway at idle: `POST /workflows/{id}/runs` and `GET /runs/{id}`.

Not a test (pytest does not collect it): a before/after yardstick for gateway changes.
It serves the gateway with `run_gateway` on a real socket over a fresh, migrated database
on the Postgres of `tide infra up` and the in-process bus (or Kafka with `--kafka`), then
sends requests one after another over one keep-alive connection and prints percentiles.

    .venv/bin/python services/gateway/tests/bench_requests.py [-n 300] [--kafka]
        [--uvloop] [--profile out.prof]

`--profile` wraps the measured phase in cProfile (view with `python -m pstats`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import httpx

from tideflow.bus import Bus, InMemoryBus, KafkaBus
from tideflow.gateway import GatewaySettings, run_gateway
from tideflow.store import APP_ROLE, PostgresEventStore, migrate
from tideflow.store.testing import Databases, with_database

TOKEN = "bench-token"
DEFINITION = {
    "apiVersion": "tideflow.io/v1",
    "kind": "Workflow",
    "metadata": {"name": "bench-one"},
    "spec": {
        "input": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "nodes": [{"id": "one", "type": "function", "config": {"name": "noop"}}],
    },
}


Timing = tuple[list[float], float]
"""Milliseconds per request, and process CPU milliseconds per request (client + server)."""


async def _timed(n: int, request: Callable[[int], Awaitable[httpx.Response]]) -> Timing:
    took = []
    cpu = time.process_time()
    for i in range(n):
        started = time.perf_counter()
        response = await request(i)
        took.append((time.perf_counter() - started) * 1000)
        assert response.status_code < 300, response.text
    return took, (time.process_time() - cpu) * 1000 / n


def _report(name: str, timing: Timing) -> None:
    took, cpu = timing
    ordered = sorted(took)

    def p(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    sys.stdout.write(
        f"{name:<34} n={len(took):<5} p50={statistics.median(took):6.2f} ms"
        f"  p90={p(0.9):6.2f}  p99={p(0.99):6.2f}  mean={statistics.fmean(took):6.2f}"
        f"  cpu/req={cpu:5.2f} ms\n"
    )


async def _bench(client: httpx.AsyncClient, n: int, profiler: cProfile.Profile | None) -> None:
    workflow = "bench-one"
    created = await client.post("/workflows", json=DEFINITION)
    assert created.status_code == 201, created.text
    published = await client.post(f"/workflows/{workflow}/publish")
    assert published.status_code == 201, published.text
    run_ids: list[str] = []

    async def start(i: int) -> httpx.Response:
        response = await client.post(f"/workflows/{workflow}/runs", json={"input": {"n": i}})
        run_ids.append(response.json()["runId"])
        return response

    async def get(i: int) -> httpx.Response:
        return await client.get(f"/runs/{run_ids[i % len(run_ids)]}")

    await _timed(n // 10 + 5, start)  # warm-up: connections, statement caches
    await _timed(n // 10 + 5, get)
    if profiler:
        profiler.enable()
    starts = await _timed(n, start)
    gets = await _timed(n, get)
    if profiler:
        profiler.disable()
    _report("POST /workflows/{id}/runs", starts)
    _report("GET /runs/{id}", gets)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--kafka", action="store_true")
    parser.add_argument("--profile")
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    base = os.environ.get("TIDEFLOW_DATABASE_URL", "postgresql://tideflow@127.0.0.1:15432/tideflow")
    databases = Databases(base)
    name = await databases.create()
    try:
        dsn = with_database(base, name)
        await migrate(dsn)
        store = await PostgresEventStore.connect(dsn, max_size=8, role=APP_ROLE)
        bus: Bus
        if args.kafka:
            bootstrap = os.environ.get("TIDEFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
            bus = KafkaBus(bootstrap_servers=bootstrap)
        else:
            bus = InMemoryBus()
        await bus.start()
        settings = GatewaySettings(host="127.0.0.1", port=0, admin_token=TOKEN)
        stop = asyncio.Event()
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run_gateway(
                settings=settings, store=store, bus=bus, stop=stop, on_started=started.set_result
            )
        )
        url = await asyncio.wait_for(started, 10)
        profiler = cProfile.Profile() if args.profile else None
        try:
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            ) as client:
                await _bench(client, args.n, profiler)
        finally:
            stop.set()
            await task
            await bus.close()
            await store.close()
        if profiler:
            profiler.dump_stats(args.profile)
    finally:
        await databases.drop(name)


if __name__ == "__main__":
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
