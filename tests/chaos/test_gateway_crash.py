"""A gateway SIGKILLed between committing runs and publishing their StartRun (Kafka stack).

The gateway writes the `pending` run and its StartRun outbox row in one transaction and
publishes after the commit. Killed in between (`crashing_gateway.py` dies inside its 5th
publish while 20 starts are in flight), those runs exist only in Postgres: the scheduler's
outbox relay must send them once the gateway's claim expires, and a client that retries
with its idempotency key must get the same run. Every run must then succeed with every
step succeeded exactly once and gapless seqs.
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from tideflow.bus import KafkaBus
from tideflow.store import APP_ROLE, PostgresEventStore

from ..e2e.stack import Service, free_port, stack_env, topics
from ..harness import Client, chain

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

RUNS = 20
CRASH_AT = 5
TOKEN = "gateway-crash-token"
STEPS = 3
CLAIM_SECONDS = 10


async def unsent(dsn: str, topic: str) -> int:
    """Outbox rows (StartRun commands) committed and not yet published."""
    admin = await asyncpg.connect(dsn)
    try:
        return int(await admin.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic))
    finally:
        await admin.close()


async def check_history(store: PostgresEventStore, run_id: str) -> None:
    events = await store.read(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), run_id
    succeeded = collections.Counter(e.data["step"] for e in events if e.type == "StepSucceeded")
    assert succeeded == {f"s{i}": 1 for i in range(STEPS)}, run_id


def api(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"})


async def start(http: httpx.AsyncClient, n: int) -> httpx.Response:
    return await http.post("/runs", json={"workflowId": "gwcrash", "input": n,
                                          "idempotencyKey": f"key-{n}"})  # fmt: skip


async def healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(timeout=1) as http:
        for _ in range(600):
            assert process.poll() is None, f"exited with {process.returncode}"
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the crashing gateway never became healthy")


async def test_runs_committed_before_a_gateway_crash_still_start(
    fresh_dsn: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"gwcrash{uuid.uuid4().hex[:8]}"
    env = stack_env(fresh_dsn, kafka_bootstrap, prefix) | {
        "TIDEFLOW_ADMIN_TOKEN": TOKEN,
        # the relay takes over a dead gateway's StartRuns after 10 s instead of 30 s: still
        # far longer than the crash takes to be seen and the stranded rows counted
        "TIDEFLOW_GATEWAY_OUTBOX_CLAIM": f"{CLAIM_SECONDS}s",
    }
    scheduler = Service("scheduler", [], env, tmp_path)
    executor = Service("executor", ["--module", "e2e_tasks"], env, tmp_path)
    gateway = Service("gateway", [], env, tmp_path)
    bus = KafkaBus(bootstrap_servers=kafka_bootstrap, topics=topics(prefix))
    await bus.start()
    await bus.ensure_topics([bus.topics.runs, bus.topics.tasks("default")], partitions=8)
    store = await PostgresEventStore.connect(fresh_dsn, max_size=4, role=APP_ROLE)
    client = Client(store=store, bus=bus)
    crashing: subprocess.Popen[bytes] | None = None
    try:
        scheduler.start()
        executor.start()
        await asyncio.gather(scheduler.healthy(), executor.healthy())
        await client.publish_workflow(chain("gwcrash", STEPS))

        port = free_port()
        with (tmp_path / "crashing-gateway.log").open("wb") as log:
            crashing = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("crashing_gateway.py")),
                 str(CRASH_AT)],
                env={**os.environ, **env, "TIDEFLOW_GATEWAY_PORT": str(port)},
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        await healthy(url, crashing)
        async with api(url) as http:
            first = await asyncio.gather(*(start(http, n) for n in range(RUNS)),
                                         return_exceptions=True)  # fmt: skip
        assert await asyncio.to_thread(crashing.wait, 30) == -9
        stranded = await unsent(fresh_dsn, bus.topics.runs)
        answered = [r for r in first if isinstance(r, httpx.Response)]
        assert all(r.status_code == 201 for r in answered)
        assert stranded >= 1, "nothing was committed and left unpublished: proves nothing"

        gateway.start()
        await gateway.healthy()
        async with api(f"http://127.0.0.1:{gateway.port}") as http:
            again = [await start(http, n) for n in range(RUNS)]
        assert {r.status_code for r in again} <= {200, 201}
        run_ids = [r.json()["runId"] for r in again]
        for before, after in zip(first, again, strict=True):
            if isinstance(before, httpx.Response):  # answered before the crash: same run
                assert after.status_code == 200
                assert after.json()["runId"] == before.json()["runId"]
        records = await client.wait(run_ids, timeout=150)  # the relay waits out the claim
        assert [records[r].output for r in run_ids] == [n + STEPS for n in range(RUNS)]
        for run_id in run_ids:
            await check_history(store, run_id)
        print(  # noqa: T201
            f"gateway killed in its publish #{CRASH_AT}: {len(answered)} starts answered, "
            f"{stranded} StartRun left in the outbox; all {RUNS} runs succeeded"
        )
    finally:
        if crashing is not None and crashing.poll() is None:
            crashing.kill()
        for service in (gateway, scheduler, executor):
            service.stop()
        await store.close()
        await bus.close()
