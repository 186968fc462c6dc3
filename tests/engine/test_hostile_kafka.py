"""The hostile-value tests where the broker matters, on the real Kafka: dead letters are
published to Kafka, and offsets move past a poison message only once it is accounted for.

The test bodies are those of `test_hostile` (imported, so pytest collects them here too);
this module's `engine` fixture runs them with a `KafkaBus` on a topic prefix of their own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tideflow.bus import KafkaBus, Topics
from tideflow.executor.app import run_executor
from tideflow.executor.settings import ExecutorSettings
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.sdk import TaskRegistry
from tideflow.settings import KafkaSettings
from tideflow.store import APP_ROLE, PostgresEventStore

from .conftest import Engine
from .test_hostile import (
    test_a_command_whose_json_does_not_decode_is_dead_lettered_at_once,
    test_a_task_no_worker_serves_fails_after_its_schedule_to_start_timeout,
    test_an_undecodable_task_is_dead_lettered_and_its_partition_goes_on,
    test_poison_signal_is_dead_lettered_and_the_run_goes_on,
    test_unencodable_start_never_stalls_the_partition,
    test_unstorable_outputs_fail_their_step_once,
)

pytestmark = pytest.mark.integration

__all__ = [
    "test_a_command_whose_json_does_not_decode_is_dead_lettered_at_once",
    "test_a_task_no_worker_serves_fails_after_its_schedule_to_start_timeout",
    "test_an_undecodable_task_is_dead_lettered_and_its_partition_goes_on",
    "test_poison_signal_is_dead_lettered_and_the_run_goes_on",
    "test_unencodable_start_never_stalls_the_partition",
    "test_unstorable_outputs_fail_their_step_once",
]


@pytest.fixture
async def engine(fresh_dsn: str, kafka_bootstrap: str) -> AsyncIterator[Engine]:
    prefix = f"hostile{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=prefix, partitions=2)
    store = await PostgresEventStore.connect(fresh_dsn, max_size=8, role=APP_ROLE)
    bus = KafkaBus(bootstrap_servers=kafka_bootstrap, topics=Topics(prefix=prefix))
    await bus.start()
    registry = TaskRegistry()
    stop = asyncio.Event()
    services = [
        asyncio.create_task(run_scheduler(settings=SchedulerSettings(kafka=kafka), store=store,
                                          bus=bus, stop=stop, serve_health=False)),
        asyncio.create_task(run_executor(settings=ExecutorSettings(kafka=kafka), bus=bus,
                                         stop=stop, registry=registry, serve_health=False)),
    ]  # fmt: skip
    try:
        yield Engine(store=store, bus=bus, registry=registry)
    finally:
        stop.set()
        await asyncio.gather(*services, return_exceptions=True)
        await bus.close()
        await store.close()
