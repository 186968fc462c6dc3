"""Crash everything, repeatedly, while 200 runs are in flight: nothing is lost or doubled.

The scheduler and the executor are SIGKILLed at random moments and restarted, several
times each, and the Postgres server is restarted once. Afterwards every run must have
ended with the right output, every step's success must be in the log exactly once, and
every run's event numbers must be gapless.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tideflow.bus import KafkaBus
from tideflow.infra._postgres import Postgres
from tideflow.store import APP_ROLE, NotFound, PostgresEventStore, migrate

from ..e2e.stack import Service, stack_env, topics
from ..harness import TERMINAL, Client, chain

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

RUNS = 200
KILLS_PER_SERVICE = 3


async def in_flight(store: PostgresEventStore, run_ids: list[str]) -> int:
    """How many of the runs have not ended yet (unknown ones count: they are on the bus)."""
    ended = 0
    for run_id in run_ids:
        with contextlib.suppress(NotFound):
            ended += (await store.get_run(run_id)).status in TERMINAL
    return len(run_ids) - ended


async def check_history(store: PostgresEventStore, run_id: str) -> None:
    """Gapless seqs, each step's success exactly once, one end."""
    events = await store.read(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), run_id
    succeeded = collections.Counter(e.data["step"] for e in events if e.type == "StepSucceeded")
    assert succeeded == {f"s{i}": 1 for i in range(10)}, run_id
    assert sum(e.type == "RunSucceeded" for e in events) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_postgres(tmp_path: Path) -> AsyncIterator[Postgres]:
    """A Postgres of this test's own, so restarting it disturbs nothing else."""
    server = Postgres(home=tmp_path / "pg", port=free_port(), user="tideflow",
                      database="tideflow")  # fmt: skip
    server.up(timeout=60)
    yield server  # type: ignore[misc]
    server.down()


async def test_runs_survive_kills_and_a_database_restart(
    own_postgres: Postgres, kafka_bootstrap: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("TIDEFLOW_CHAOS_SEED", random.randrange(1_000_000)))
    chaos = random.Random(seed)
    await migrate(own_postgres.url)
    prefix = f"chaos{uuid.uuid4().hex[:8]}"
    env = stack_env(own_postgres.url, kafka_bootstrap, prefix)
    scheduler = Service("scheduler", [], env, tmp_path)
    executor = Service("executor", ["--module", "e2e_tasks"], env, tmp_path)
    bus = KafkaBus(bootstrap_servers=kafka_bootstrap, topics=topics(prefix))
    await bus.start()
    await bus.ensure_topics([bus.topics.runs, bus.topics.tasks("default")], partitions=8)
    store = await PostgresEventStore.connect(own_postgres.url, max_size=4, role=APP_ROLE)
    client = Client(store=store, bus=bus)
    kills: collections.Counter[str] = collections.Counter()
    try:
        scheduler.start()
        executor.start()
        await asyncio.gather(scheduler.healthy(), executor.healthy())
        await client.publish_workflow(chain("chaos10", 10, task="slow_inc"))
        plan = ["scheduler", "executor"] * KILLS_PER_SERVICE + ["postgres"]
        chaos.shuffle(plan)
        wave = RUNS // len(plan)
        run_ids: list[str] = []
        in_flight_at_blows: list[int] = []
        for blow, victim in enumerate(plan):
            # Runs arrive in waves, so every blow lands while some are mid-way.
            count = wave if blow < len(plan) - 1 else RUNS - len(run_ids)
            first = len(run_ids)
            run_ids += await asyncio.gather(
                *(client.start("chaos10", first + i) for i in range(count))
            )
            await asyncio.sleep(chaos.uniform(0.3, 1.0))
            in_flight_at_blows.append(await in_flight(store, run_ids))
            if victim == "postgres":
                await asyncio.to_thread(own_postgres.down)
                await asyncio.to_thread(own_postgres.up, timeout=60)
            else:
                service = scheduler if victim == "scheduler" else executor
                service.kill()
                service.start()
                await service.healthy()
            kills[victim] += 1

        began = time.monotonic()
        records = await client.wait(list(run_ids), timeout=240)
        print(  # noqa: T201
            f"chaos seed {seed}: survived {kills['scheduler']} scheduler kills, "
            f"{kills['executor']} executor kills and {kills['postgres']} Postgres restart; "
            f"all {RUNS} runs ended {time.monotonic() - began:.1f}s after the last blow; "
            f"runs in flight at each blow: {in_flight_at_blows}"
        )
        assert sum(in_flight_at_blows) > 0, "no blow hit a run in flight: the test proves nothing"
        assert [records[r].output for r in run_ids] == [i + 10 for i in range(RUNS)]
        assert {r.status for r in records.values()} == {"succeeded"}
        for run_id in run_ids:
            await check_history(store, run_id)
    finally:
        scheduler.stop()
        executor.stop()
        await store.close()
        await bus.close()
