"""The observed stack, started once for the trace and dashboard tests of this folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tideflow.bus import KafkaBus
from tideflow.store.testing import Databases, with_database

from ..e2e.stack import Service, topics
from .stack import ObservedStack, Prometheus, send_poison, stack_services, start_runs


@pytest.fixture(scope="package")
async def observed(
    databases: Databases,
    migrated_template: str,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ObservedStack]:
    folder = tmp_path_factory.mktemp("observed")
    name = await databases.create(template=migrated_template)
    dsn = with_database(databases.url, name)
    env, prefix = stack_services(dsn, kafka_bootstrap, folder)
    bus = KafkaBus(bootstrap_servers=kafka_bootstrap, topics=topics(prefix))
    await bus.start()
    await bus.ensure_topics([bus.topics.runs, bus.topics.tasks("default")], partitions=4)
    await bus.close()
    gateway = Service("gateway", [], env, folder)
    scheduler = Service("scheduler", [], env, folder)
    executor = Service("executor", ["--module", "obs_tasks"], env, folder)
    services = [gateway, scheduler, executor]
    prometheus = Prometheus(folder / "prometheus", {s.name: s.port for s in services})
    try:
        for service in services:
            service.start()
        prometheus.start()
        # generous: on a loaded machine importing the service stack alone takes seconds
        await asyncio.gather(*(s.healthy(timeout=180) for s in services), prometheus.ready())
        # scraped before the runs, so counters are seen to increase
        await prometheus.until("up", lambda r: len(r) == 3 and all(x["value"][1] == "1" for x in r))
        ok, failed = await start_runs(f"http://127.0.0.1:{gateway.port}")
        await send_poison(kafka_bootstrap, prefix)
        yield ObservedStack(
            gateway=gateway, scheduler=scheduler, executor=executor, prometheus=prometheus,
            spans_file=folder / "spans.jsonl", logs=folder, ok_runs=ok, failed_runs=failed,
            prefix=prefix,
        )  # fmt: skip
    finally:
        prometheus.stop()
        for service in services:
            service.stop()
        await databases.drop(name)
