"""A scheduler and an executor as subprocesses on the real Kafka and a fresh database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tideflow.bus import KafkaBus
from tideflow.store import APP_ROLE, PostgresEventStore

from ..harness import Client
from .stack import Service, stack_env, topics


@dataclass
class Stack:
    scheduler: Service
    executor: Service
    client: Client


@pytest.fixture
async def stack(fresh_dsn: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Stack]:
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    env = stack_env(fresh_dsn, kafka_bootstrap, prefix)
    scheduler = Service("scheduler", [], env, tmp_path)
    executor = Service("executor", ["--module", "e2e_tasks", "--concurrency", "128"], env,
                       tmp_path)  # fmt: skip
    bus = KafkaBus(bootstrap_servers=kafka_bootstrap, topics=topics(prefix))
    await bus.start()
    await bus.ensure_topics([bus.topics.runs, bus.topics.tasks("default")], partitions=8)
    store = await PostgresEventStore.connect(fresh_dsn, max_size=4, role=APP_ROLE)
    scheduler.start()
    executor.start()
    try:
        await scheduler.healthy()
        await executor.healthy()
        yield Stack(scheduler, executor, Client(store=store, bus=bus))
    finally:
        scheduler.stop()
        executor.stop()
        await store.close()
        await bus.close()
